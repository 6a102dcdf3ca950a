"""The market's and offsets' state machines and the intent runner, on a real store and a real (empty)
index database with the few rows they read; no chain: the registry is a stand-in that answers with a
receipt (after writing what the indexer would) or refuses."""

import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from eth_account import Account

import node.offsets.orders  # noqa: F401  (registers the "offset" intent kind)
from node.actors import Caller
from node.chain.eip712 import sign_typed
from node.chain.registry import ROLE_REGULATOR
from node.chain.sender import Receipt
from node.errors import CodedError, Conflict, ContractRevert, Forbidden, InvalidRequest, SinkError, TransactionPending
from node.index.db import connect_writer, open_reader
from node.market import campaigns, deals, listings
from node.market.custody import custody_typed, record_custodian
from node.market.safeguards import add_to_blacklist, record_deposit
from node.offsets.orders import offset_orders
from node.settings import load_settings
from node.store import Store, TokenOwner
from node.store.sealed import Sealer
from node.writes.runner import KINDS, IntentAccepted, Writes, kind
from registry.campaigns import payment_root
from registry.units import deal_total_fen

CHAIN_ID = 31337
REGISTRY = "0x" + "12" * 20
SELLER, BUYER, BUYER2, STRANGER = ("0x" + c * 20 for c in ("cd", "ab", "a2", "5e"))
ADMIN, REGULATOR, CHANNEL = ("0x" + c * 20 for c in ("ad", "9e", "c4"))
CUSTODIAN = Account.from_key("0x" + "11" * 32)
BATCH, OTHER_BATCH, PROJECT = 7, 8, 1
TONNE = 1_000_000
PRICE = "58.50"  # CNY per tonne: 5,850 fen
DAY = 86_400


def caller(account: str, roles: int = 0) -> Caller:
    return Caller(owner=TokenOwner(account[2:6], account, "test"), roles=roles, organisation=1, frozen=False)


def receipt(n: int = 1) -> Receipt:
    return Receipt(
        tx_hash="0x" + f"{n:064x}",
        block_number=5,
        block_hash="0x" + "bb" * 32,
        gas_used=1,
        status=1,
        logs=(),
        raw={},
    )


def signature(kind: str, message: dict[str, Any]) -> dict[str, Any]:
    signed = sign_typed(CUSTODIAN, custody_typed(CHAIN_ID, REGISTRY, kind, message))
    return {"v": signed.v, "r": "0x" + signed.r.hex(), "s": "0x" + signed.s.hex()}


# the stand-ins ------------------------------------------------------------------------------------
@dataclass
class FakeRegistry:
    """Answers a send with a receipt after running `on_send` (what the indexer would write), or raises."""

    refuse: SinkError | BaseException | None = None
    on_send: Callable[[Receipt], None] | None = None
    retirement_id: int = 41
    sent: list[tuple[Any, ...]] = field(default_factory=list)

    def _send(self, *call: Any) -> Receipt:
        self.sent.append(call)
        if self.refuse is not None:
            raise self.refuse
        mined = receipt(len(self.sent))
        if self.on_send is not None:
            self.on_send(mined)
        return mined

    def transfer(self, sender: Any, batch_id: int, to: str, amount: int, deal_ref: bytes) -> Receipt:
        return self._send("transfer", batch_id, to, amount, deal_ref)

    def retire(self, sender: Any, request: Any) -> tuple[int, Receipt]:
        return self.retirement_id, self._send("retire", request)

    def retire_batches(self, sender: Any, batch_ids: list[int], amounts: list[int], details: Any) -> tuple[Any, ...]:
        return [self.retirement_id], self._send("retire_batches", batch_ids, amounts)

    def event(self, mined: Receipt, name: str) -> Any:
        return SimpleNamespace(name=name, args={"retirementId": self.retirement_id})

    def events(self, mined: Receipt) -> list[Any]:
        request = self.sent[-1][1]
        args = {"retirementId": self.retirement_id, "batchId": request.batch_id, "amount": request.amount}
        return [SimpleNamespace(name="CertificateRetired", args=args)]


class Index:
    """The index database as node.index.db creates it, with rows written as the indexer would."""

    def __init__(self, path: Path) -> None:
        self.db = connect_writer(path)

    def participant(self, address: str, *, frozen: bool = False) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO participant (address, organisation, roles, frozen, registered_block,"
            " registered_time) VALUES (?, 1, 0, ?, 1, 0)",
            (address, frozen),
        )

    def project(self, project_id: int, owner: str) -> None:
        self.db.execute(
            "INSERT INTO project (id, owner, metadata_hash, status, issued_until, batch_count, registered_block,"
            " registered_time) VALUES (?, ?, ?, 1, 0, 0, 1, 0)",
            (project_id, owner, "0x" + "42" * 32),
        )

    def batch(self, batch_id: int, *, quantity: int = 100 * TONNE, status: int = 0) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO batch (id, project_id, period_index, period_start, period_end, quantity,"
            " buffer_amount, owner, buffer_account, verifier, issuer, evidence_root, methodology_id,"
            " verification_digest, status, retired, reversed, issued_block, issued_time, issued_tx)"
            " VALUES (?, ?, ?, 1735689600, 1767225599, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 2, 0, ?)",
            (
                batch_id,
                PROJECT,
                batch_id,
                quantity,
                SELLER,
                "0x" + "bf" * 20,
                "0x" + "fe" * 20,
                "0x" + "1e" * 20,
                "0x" + f"{batch_id:064x}",
                "0x" + "00" * 32,
                "0x" + "dd" * 32,
                status,
                "0x" + "aa" * 32,
            ),
        )

    def balance(self, batch_id: int, account: str, amount: int) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO balance (batch_id, account, amount) VALUES (?,?,?)", (batch_id, account, amount)
        )

    def transfer(self, deal: dict[str, Any], mined: Receipt, *, amount: int | None = None) -> None:
        """A CertificateTransferred of the deal's quantity, seller to buyer, carrying its reference."""
        self.db.execute(
            "INSERT INTO chain_event (chain_id, block_number, block_hash, block_time, tx_hash, log_index, name,"
            " batch_id, account, counterparty, amount, args, digest)"
            " VALUES (?, ?, ?, 0, ?, 0, 'CertificateTransferred', ?, ?, ?, ?, ?, '')",
            (
                CHAIN_ID,
                mined.block_number,
                mined.block_hash,
                mined.tx_hash,
                deal["batch_id"],
                deal["seller"],
                deal["buyer"],
                deal["quantity"] if amount is None else amount,
                orjson.dumps({"dealRef": deal["deal_ref"]}).decode(),
            ),
        )

    def retirement(self, retirement_id: int, amount: int, mined: Receipt) -> None:
        self.db.execute(
            "INSERT INTO retirement (id, batch_id, holder, amount, beneficiary, beneficiary_hash, reason,"
            " consumption_start, consumption_end, region, block_number, block_time, tx_hash)"
            " VALUES (?, ?, ?, ?, '', '', '', 0, 0, '', ?, 0, ?)",
            (retirement_id, BATCH, SELLER, amount, mined.block_number, mined.tx_hash),
        )


@dataclass
class Market:
    services: Any  # what the domain functions use of node.services.Services
    index: Index
    reader: sqlite3.Connection
    registry: FakeRegistry

    @property
    def store(self) -> Store:
        store: Store = self.services.state
        return store

    def tables(self, *names: str) -> dict[str, list[dict[str, Any]]]:
        return {name: self.store.rows(f"SELECT * FROM {name} ORDER BY rowid") for name in names}


@pytest.fixture(scope="module")
def empty_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index database with its schema and no rows, created once: its DDL costs a disk sync a table."""
    path = tmp_path_factory.mktemp("index") / "index.sqlite"
    connect_writer(path).close()
    return path


@pytest.fixture
def market(tmp_path: Path, empty_index: Path) -> Iterator[Market]:
    # No project review here (a test of the review turns it on): listings are open once valid.
    settings = load_settings(home=tmp_path, listing_review=False)
    shutil.copyfile(empty_index, settings.index_path)
    index = Index(settings.index_path)
    for account in (SELLER, BUYER, BUYER2, STRANGER):
        index.participant(account)
    index.project(PROJECT, SELLER)
    index.batch(BATCH)
    index.batch(OTHER_BATCH)
    index.balance(BATCH, SELLER, 10 * TONNE)
    index.balance(OTHER_BATCH, SELLER, 10 * TONNE)
    registry = FakeRegistry()
    services = SimpleNamespace(
        settings=settings,
        state=Store(settings.store_location),
        sealer=Sealer(bytes(range(32))),
        manifest=SimpleNamespace(chain_id=CHAIN_ID, registry=SimpleNamespace(address=REGISTRY)),
        registry=registry,
        reader=lambda: open_reader(settings.index_path),
        sender_for=lambda owner: SimpleNamespace(key_name=owner.key_name),
        sender_for_key=lambda key_name: SimpleNamespace(key_name=key_name),
    )
    services.writes = Writes(
        services.state,
        context=services,
        wait_indexed=lambda block: None,
        indexed_block=lambda: 10**9,
        error_status=lambda error: 422,
    )
    record_custodian(services, caller(ADMIN), CUSTODIAN.address, "Bank")
    message = {"seller": SELLER, "amountFen": 1_000_000, "currency": "CNY", "custodianRef": "dep-1", "paidAt": 1}
    record_deposit(
        services,
        {
            "seller": SELLER,
            "amount_fen": 1_000_000,
            "currency": "CNY",
            "custodian_ref": "dep-1",
            "paid_at": 1,
            "signature": signature("DepositReceipt", message),
        },
    )
    reader = open_reader(settings.index_path)
    yield Market(services, index, reader, registry)
    reader.close()
    services.state.close()
    index.db.close()


# helpers ------------------------------------------------------------------------------------------
def make_listing(m: Market, quantity: int = 6 * TONNE, *, batch_id: int = BATCH, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    body = {
        "title": "Park A 2025",
        "description": "urban park sink",
        "batch_id": batch_id,
        "quantity": quantity,
        "price": PRICE,
        "min_lot": TONNE,
        "valid_from": now - 60,
        "valid_until": now + 30 * DAY,
        **extra,
    }
    return listings.create_listing(m.services, m.reader, SELLER, body)


def offer(m: Market, listing_id: int, quantity: int, buyer: str = BUYER, price: str = "60.00") -> dict[str, Any]:
    body = {"quantity": quantity, "price": price, "expires_at": int(time.time()) + 3600}
    return deals.make_offer(m.services, m.reader, caller(buyer), listing_id, body)


def accept(m: Market, offer_id: int, who: str = SELLER) -> dict[str, Any]:
    return deals.answer_offer(m.services, m.reader, caller(who), offer_id, "accept", None)


def payment(deal: dict[str, Any], amount_fen: int | None = None) -> dict[str, Any]:
    price = int(deal["price_cny_per_tonne"].replace(".", ""))
    body = {
        "amount_fen": deal_total_fen(price, deal["quantity"]) if amount_fen is None else amount_fen,
        "currency": "CNY",
        "custodian_ref": "bank-ref-7",
        "paid_at": 1_767_000_000,
    }
    typed = deals.receipt_typed(CHAIN_ID, REGISTRY, deal["id"], body)
    signed = sign_typed(CUSTODIAN, typed)
    return {**body, "signature": {"v": signed.v, "r": "0x" + signed.r.hex(), "s": "0x" + signed.s.hex()}}


def pay(m: Market, deal: dict[str, Any], who: str = BUYER, **kw: Any) -> dict[str, Any]:
    return deals.record_receipt(m.services, m.reader, caller(who), deal["id"], payment(deal, **kw))


def paid_deal(m: Market, quantity: int = 4 * TONNE) -> dict[str, Any]:
    listing = make_listing(m)
    deal = accept(m, offer(m, listing["id"], quantity)["id"])
    return pay(m, deal)


def deal_row(m: Market, deal_id: int) -> dict[str, Any]:
    return m.store.rows("SELECT * FROM deal WHERE id = ?", (deal_id,))[0]


def intent_of(m: Market, intent_id: int) -> dict[str, Any]:
    intent = m.store.intent(intent_id)
    assert intent is not None
    return intent


def steps(m: Market, deal_id: int) -> list[str]:
    return [r["state"] for r in m.store.rows("SELECT state FROM deal_step WHERE deal_id = ? ORDER BY id", (deal_id,))]


STATE_TABLES = (
    "listing",
    "offer",
    "deal",
    "deal_step",
    "campaign",
    "subscription",
    "subscription_receipt",
    "intent",
    "chain_tx",
    "offset_batch",
    "offset_order",
    "carbon_points",
)


def assert_refused(m: Market, call: Callable[[], Any], error: type[CodedError], code: str) -> None:
    """The call is refused with this kind of error and code, and nothing in the store changed."""
    before = m.tables(*STATE_TABLES)
    with pytest.raises(error) as info:
        call()
    assert info.value.code == code, info.value.message
    assert m.tables(*STATE_TABLES) == before


def status(m: Market, listing_id: int) -> str:
    return str(listings.public_listing(m.services, m.reader, listing_id)["status"])


# listings -----------------------------------------------------------------------------------------
def test_a_listing_is_open_within_its_window_and_scheduled_before_it(market: Market) -> None:
    assert make_listing(market)["status"] == "open"
    later = make_listing(market, TONNE, batch_id=OTHER_BATCH, valid_from=int(time.time()) + DAY)
    assert later["status"] == "scheduled"


def test_a_listing_reads_suspended_while_the_index_says_its_batch_or_seller_is_barred(market: Market) -> None:
    listing_id = make_listing(market)["id"]
    before = market.tables(*STATE_TABLES)
    for batch_status in (1, 2):  # frozen, revoked
        market.index.batch(BATCH, status=batch_status)
        assert status(market, listing_id) == "suspended"
        assert_refused(market, lambda: offer(market, listing_id, TONNE), Conflict, "listing_not_open")
    market.index.batch(BATCH)
    assert status(market, listing_id) == "open"
    market.index.participant(SELLER, frozen=True)
    assert status(market, listing_id) == "suspended"
    market.index.participant(SELLER)
    assert status(market, listing_id) == "open"
    assert market.tables(*STATE_TABLES) == before  # a status is read, never written
    add_to_blacklist(market.services, caller(REGULATOR, ROLE_REGULATOR), SELLER, "fraud")
    assert status(market, listing_id) == "suspended"


def test_a_withdrawn_or_expired_listing_reads_so(market: Market) -> None:
    first, second = make_listing(market, 2 * TONNE)["id"], make_listing(market, 2 * TONNE)["id"]
    market.store.withdraw_listing(first)
    assert status(market, first) == "withdrawn"
    market.store.execute("UPDATE listing SET valid_until = ? WHERE id = ?", (int(time.time()) - 1, second))
    assert status(market, second) == "expired"
    assert_refused(market, lambda: offer(market, second, TONNE), Conflict, "listing_not_open")


def test_a_listing_waits_for_its_projects_review_when_review_is_on(market: Market, tmp_path: Path) -> None:
    listing_id = make_listing(market)["id"]
    market.services.settings = load_settings(home=tmp_path, listing_review=True)
    assert status(market, listing_id) == "under_review"
    market.store.execute(
        "INSERT INTO project_review (project_id, decision, reason, actor, at) VALUES (?, 'approved', '', ?, 0)",
        (PROJECT, REGULATOR),
    )
    assert status(market, listing_id) == "open"


def test_listings_never_exceed_the_sellers_unencumbered_balance(market: Market) -> None:
    first = make_listing(market, 6 * TONNE)
    assert_refused(market, lambda: make_listing(market, 5 * TONNE), Conflict, "exceeds_unencumbered_balance")
    make_listing(market, 4 * TONNE)
    assert_refused(market, lambda: make_listing(market, 1, min_lot=1), Conflict, "exceeds_unencumbered_balance")
    market.store.withdraw_listing(first["id"])
    assert make_listing(market, 6 * TONNE)["status"] == "open"


# offers and deals ---------------------------------------------------------------------------------
def test_an_accepted_offer_makes_a_deal_that_reserves_its_quantity(market: Market) -> None:
    listing = make_listing(market)
    made = offer(market, listing["id"], 4 * TONNE)
    assert (made["state"], made["price_fen_per_tonne"], made["deal_id"]) == ("offered", 6000, None)
    deal = accept(market, made["id"])
    assert (deal["state"], deal["quantity"], deal["buyer"], deal["seller"]) == ("accepted", 4 * TONNE, BUYER, SELLER)
    assert deal["price_cny_per_tonne"] == "60.00"
    assert steps(market, deal["id"]) == ["accepted"]
    assert market.store.rows("SELECT state, deal_id FROM offer") == [{"state": "accepted", "deal_id": deal["id"]}]
    assert deals.reserved(market.services, listing["id"]) == 4 * TONNE
    assert deal_row(market, deal["id"])["price_fen_per_tonne"].startswith("sealed:")  # prices are sealed at rest


def test_an_offer_is_accepted_once_even_by_a_request_that_read_it_open(
    market: Market, monkeypatch: pytest.MonkeyPatch
) -> None:
    offer_id = offer(market, make_listing(market)["id"], 2 * TONNE)["id"]
    stale = deals.offer_view(market.services, offer_id)
    accept(market, offer_id)
    assert_refused(market, lambda: accept(market, offer_id), Conflict, "offer_closed")
    # A concurrent request that read the offer before the first accept: the compare-and-set refuses it.
    monkeypatch.setattr(deals, "offer_view", lambda services, offer_id: dict(stale))
    assert_refused(market, lambda: accept(market, offer_id), Conflict, "offer_closed")
    assert len(market.store.rows("SELECT id FROM deal")) == 1


def test_accepts_never_reserve_beyond_the_listings_quantity(market: Market) -> None:
    listing_id = make_listing(market, 6 * TONNE)["id"]
    first = offer(market, listing_id, 4 * TONNE)
    second = offer(market, listing_id, 3 * TONNE, buyer=BUYER2)
    accept(market, first["id"])
    assert_refused(market, lambda: accept(market, second["id"]), Conflict, "quantity_unavailable")
    assert market.store.rows("SELECT state FROM offer WHERE id = ?", (second["id"],)) == [{"state": "offered"}]
    assert_refused(market, lambda: offer(market, listing_id, 3 * TONNE, buyer=BUYER2), Conflict, "quantity_unavailable")
    assert deals.reserved(market.services, listing_id) == 4 * TONNE
    assert accept(market, offer(market, listing_id, 2 * TONNE, buyer=BUYER2)["id"])["state"] == "accepted"
    assert deals.reserved(market.services, listing_id) == 6 * TONNE


def test_offers_are_answered_in_turn(market: Market) -> None:
    offer_id = offer(market, make_listing(market)["id"], 2 * TONNE)["id"]
    assert_refused(market, lambda: accept(market, offer_id, who=BUYER), Forbidden, "forbidden")
    countered = deals.answer_offer(
        market.services,
        market.reader,
        caller(SELLER),
        offer_id,
        "counter",
        {"price": "59.00"},
    )
    assert (countered["state"], countered["price_fen_per_tonne"]) == ("countered", 5900)
    assert_refused(market, lambda: accept(market, offer_id, who=SELLER), Forbidden, "forbidden")
    deal = accept(market, offer_id, who=BUYER)
    assert (deal["state"], deal["price_cny_per_tonne"]) == ("accepted", "59.00")


def test_an_expired_offer_reads_expired_without_a_write(market: Market) -> None:
    offer_id = offer(market, make_listing(market)["id"], 2 * TONNE)["id"]
    market.store.execute("UPDATE offer SET expires_at = ? WHERE id = ?", (int(time.time()) - 1, offer_id))
    before = market.tables(*STATE_TABLES)
    assert deals.offer_view(market.services, offer_id)["state"] == "expired"
    assert market.tables(*STATE_TABLES) == before
    assert before["offer"][0]["state"] == "offered"
    assert_refused(market, lambda: accept(market, offer_id), Conflict, "offer_closed")


def test_a_receipt_for_another_amount_is_refused(market: Market) -> None:
    deal = accept(market, offer(market, make_listing(market)["id"], 4 * TONNE)["id"])
    due = deal_total_fen(6000, 4 * TONNE)
    assert_refused(market, lambda: pay(market, deal, amount_fen=due + 1), InvalidRequest, "receipt_amount_mismatch")
    assert_refused(market, lambda: pay(market, deal, amount_fen=due - 1), InvalidRequest, "receipt_amount_mismatch")
    assert pay(market, deal, amount_fen=due)["state"] == "paid"


def test_a_receipt_posted_by_a_non_party_is_refused_with_nothing_written(market: Market) -> None:
    deal = accept(market, offer(market, make_listing(market)["id"], 4 * TONNE)["id"])
    assert_refused(market, lambda: pay(market, deal, who=STRANGER), Forbidden, "forbidden")
    regulator = caller(REGULATOR, ROLE_REGULATOR)
    paid = deals.record_receipt(market.services, market.reader, regulator, deal["id"], payment(deal))
    assert paid["state"] == "paid"


def test_a_deal_is_paid_once(market: Market) -> None:
    deal = accept(market, offer(market, make_listing(market)["id"], 4 * TONNE)["id"])
    paid = pay(market, deal)
    assert paid["state"] == "paid"
    assert paid["receipt"]["custodian"] == CUSTODIAN.address.lower()
    assert paid["receipt"]["amount_fen"] == deal_total_fen(6000, 4 * TONNE)
    assert paid["deal_ref"].startswith("0x") and len(paid["deal_ref"]) == 66
    assert [s["actor"] for s in paid["steps"]] == [SELLER, CUSTODIAN.address.lower()]
    stored = deal_row(market, deal["id"])["receipt"]
    assert stored.startswith("sealed:") and "bank-ref-7" not in stored
    assert_refused(market, lambda: pay(market, deal), Conflict, "deal_not_awaiting_payment")
    assert steps(market, deal["id"]) == ["accepted", "paid"]


def test_a_deal_moves_only_from_a_state_it_is_in(market: Market) -> None:
    deal = paid_deal(market)
    step = deals._step
    move = lambda: step(market.services, deal["id"], "delivered", SELLER, expected=("delivering",))  # noqa: E731
    assert_refused(market, move, Conflict, "deal_state_changed")
    gone = lambda: step(market.services, 999, "paid", SELLER, expected=("accepted",))  # noqa: E731
    assert_refused(market, gone, Conflict, "deal_state_changed")
    step(market.services, deal["id"], "disputed", BUYER, "late", expected=("paid",))
    assert deal_row(market, deal["id"])["state"] == "disputed"
    assert steps(market, deal["id"]) == ["accepted", "paid", "disputed"]


def _rebates(m: Market, deal_id: int) -> list[dict[str, Any]]:
    return m.store.rows(
        "SELECT holder, points, grams FROM carbon_points WHERE source = ?", (f"rebate: deal {deal_id}",)
    )


def test_an_indexed_transfer_marks_a_paid_deal_delivered_exactly_once(market: Market) -> None:
    deal = paid_deal(market)
    market.index.transfer(deal_row(market, deal["id"]), receipt(9))
    deals.apply_deliveries(market.services)
    deals.apply_deliveries(market.services)
    deals.apply_deliveries(market.services, [deal["id"]])
    assert deal_row(market, deal["id"])["state"] == "delivered"
    assert steps(market, deal["id"]) == ["accepted", "paid", "delivered"]
    assert _rebates(market, deal["id"]) == [{"holder": SELLER, "points": 4 * TONNE // 100, "grams": 4 * TONNE}]


def test_a_transfer_of_another_amount_or_reference_delivers_nothing(market: Market) -> None:
    deal = paid_deal(market)
    row = deal_row(market, deal["id"])
    market.index.transfer(row, receipt(9), amount=row["quantity"] - 1)
    market.index.transfer({**row, "deal_ref": "0x" + "00" * 32}, receipt(10))
    before = market.tables(*STATE_TABLES)
    deals.apply_deliveries(market.services)
    assert market.tables(*STATE_TABLES) == before


def test_delivering_sends_one_transfer_and_the_index_marks_the_deal_delivered(market: Market) -> None:
    deal = paid_deal(market)
    row = deal_row(market, deal["id"])
    market.registry.on_send = lambda mined: market.index.transfer(row, mined)
    delivered = deals.deliver(market.services, market.reader, caller(SELLER), deal["id"])
    assert delivered["state"] == "delivered"
    assert steps(market, deal["id"]) == ["accepted", "paid", "delivering", "delivered"]
    assert market.registry.sent == [("transfer", BATCH, BUYER, 4 * TONNE, bytes.fromhex(row["deal_ref"][2:]))]
    (intent,) = market.store.rows("SELECT id, state, subject FROM intent")
    assert (intent["state"], intent["subject"]) == ("done", f"deal:{deal['id']}")
    answer = intent_of(market, intent["id"])["answer"]
    assert (answer["id"], answer["state"]) == (deal["id"], "delivered"), "the answer is the deal as the seller sees it"
    assert len(_rebates(market, deal["id"])) == 1
    deliver = lambda: deals.deliver(market.services, market.reader, caller(SELLER), deal["id"])  # noqa: E731
    assert_refused(market, deliver, Conflict, "deal_not_paid")
    assert len(market.registry.sent) == 1


def test_a_delivery_the_reconciler_applied_first_is_not_applied_again_when_the_request_settles(
    market: Market,
) -> None:
    deal = paid_deal(market)
    row = deal_row(market, deal["id"])

    def indexed_and_reconciled(mined: Receipt) -> None:
        market.index.transfer(row, mined)
        deals.apply_deliveries(market.services)  # the reconciler's pass, before the request settles

    market.registry.on_send = indexed_and_reconciled
    assert deals.deliver(market.services, market.reader, caller(SELLER), deal["id"])["state"] == "delivered"
    assert steps(market, deal["id"]) == ["accepted", "paid", "delivering", "delivered"]
    assert len(_rebates(market, deal["id"])) == 1
    assert market.store.rows("SELECT state FROM intent") == [{"state": "done"}]


def test_a_refused_delivery_gives_the_deal_back_to_paid(market: Market) -> None:
    deal = paid_deal(market)
    market.registry.refuse = ContractRevert("AccountFrozen", {"account": BUYER})
    with pytest.raises(ContractRevert):
        deals.deliver(market.services, market.reader, caller(SELLER), deal["id"])
    assert deal_row(market, deal["id"])["state"] == "paid"
    assert steps(market, deal["id"]) == ["accepted", "paid", "delivering", "paid"]
    (intent,) = market.store.rows("SELECT id, state, status FROM intent")
    assert (intent["state"], intent["status"]) == ("failed", 422)
    assert intent_of(market, intent["id"])["answer"]["error"]["code"] == "AccountFrozen"
    # The failed intent no longer holds the deal: a second delivery goes through.
    row = deal_row(market, deal["id"])
    market.registry.refuse = None
    market.registry.on_send = lambda mined: market.index.transfer(row, mined)
    assert deals.deliver(market.services, market.reader, caller(SELLER), deal["id"])["state"] == "delivered"


def test_only_the_seller_delivers_and_only_a_paid_deal(market: Market) -> None:
    listing = make_listing(market)
    unpaid = accept(market, offer(market, listing["id"], TONNE)["id"])
    deliver = deals.deliver
    args = (market.services, market.reader)
    assert_refused(market, lambda: deliver(*args, caller(SELLER), unpaid["id"]), Conflict, "deal_not_paid")
    paid = pay(market, accept(market, offer(market, listing["id"], TONNE, buyer=BUYER2)["id"]), who=BUYER2)
    assert_refused(market, lambda: deliver(*args, caller(BUYER2), paid["id"]), Forbidden, "forbidden")
    assert market.registry.sent == []


# campaigns ----------------------------------------------------------------------------------------
def open_campaign(m: Market, target: int = 1000) -> tuple[int, int]:
    """(listing id, campaign id) of a campaign on a fresh listing, seller's key on this node."""
    if not m.store.rows("SELECT 1 FROM api_token WHERE account = ?", (SELLER,)):
        m.store.create_token(key_name="seller", account=SELLER, label="seller")
    listing_id = make_listing(m, TONNE)["id"]
    opened = campaigns.open_campaign(m.services, m.reader, caller(SELLER), listing_id, target, int(time.time()) + DAY)
    assert opened["state"] == "open"
    return listing_id, opened["id"]


def subscribe(m: Market, campaign_id: int, *entries: tuple[str, int]) -> list[int]:
    rows = [SimpleNamespace(subscriber=who, grams=grams, amount_fen=grams) for who, grams in entries]
    answer = campaigns.subscribe(m.services, caller(CHANNEL), campaign_id, rows)
    return list(range(answer["first_id"], answer["last_id"] + 1))


def record_payments(m: Market, campaign_id: int, ids: list[int]) -> dict[str, Any]:
    amounts = {r["id"]: r["amount_fen"] for r in m.store.rows("SELECT id, amount_fen FROM subscription")}
    payments = [(i, amounts[i]) for i in ids]
    total = sum(a for _, a in payments)
    message = {
        "campaignId": campaign_id,
        "root": payment_root(payments),
        "count": len(ids),
        "amountFen": total,
        "currency": "CNY",
        "custodianRef": f"settle-{ids[0]}",
        "paidAt": 1,
    }
    body = {
        "subscription_ids": ids,
        "amount_fen": total,
        "currency": "CNY",
        "custodian_ref": message["custodianRef"],
        "paid_at": 1,
        "signature": signature("SubscriptionReceipt", message),
    }
    return campaigns.record_payments(m.services, m.reader, campaign_id, body)


def campaign_row(m: Market, campaign_id: int) -> dict[str, Any]:
    return m.store.rows("SELECT * FROM campaign WHERE id = ?", (campaign_id,))[0]


def pass_deadline(m: Market, campaign_id: int) -> None:
    m.store.execute("UPDATE campaign SET deadline = ? WHERE id = ?", (int(time.time()) - 1, campaign_id))


def test_subscriptions_never_pass_the_target(market: Market) -> None:
    _, campaign_id = open_campaign(market, 1000)
    subscribe(market, campaign_id, ("alice", 600), ("bob", 300))
    assert_refused(market, lambda: subscribe(market, campaign_id, ("carol", 101)), Conflict, "oversubscribed")
    subscribe(market, campaign_id, ("carol", 100))
    view = campaigns.campaign_view(market.services, campaign_id)
    assert (view["subscriptions"], view["subscribed_grams"], view["paid_grams"]) == (3, 1000, 0)


def test_a_campaign_past_its_deadline_reads_failed_without_a_write(market: Market) -> None:
    _, campaign_id = open_campaign(market)
    alice, _bob = subscribe(market, campaign_id, ("alice", 300), ("bob", 200))
    assert record_payments(market, campaign_id, [alice])["paid_grams"] == 300
    pass_deadline(market, campaign_id)
    before = market.tables(*STATE_TABLES)
    view = campaigns.campaign_view(market.services, campaign_id)
    assert (view["state"], view["refunds_due"]) == ("failed", 0)
    assert market.tables(*STATE_TABLES) == before
    assert campaign_row(market, campaign_id)["state"] == "open"
    assert_refused(market, lambda: subscribe(market, campaign_id, ("carol", 1)), Conflict, "campaign_closed")
    close = lambda: campaigns.close_campaign(market.services, market.reader, caller(SELLER), campaign_id)  # noqa: E731
    assert_refused(market, close, Conflict, "campaign_closed")


def test_an_expired_campaign_is_recorded_failed_once_with_its_payments_marked_for_refund(market: Market) -> None:
    listing_id, campaign_id = open_campaign(market)
    _, running = open_campaign(market)
    alice, bob = subscribe(market, campaign_id, ("alice", 300), ("bob", 200))
    record_payments(market, campaign_id, [alice])
    pass_deadline(market, campaign_id)
    campaigns.fail_expired_campaigns(market.services)
    failed = campaign_row(market, campaign_id)
    assert failed["state"] == "failed" and failed["closed_at"] is not None
    refunds = market.store.rows("SELECT id, refund_due FROM subscription ORDER BY id")
    assert refunds == [{"id": alice, "refund_due": 1}, {"id": bob, "refund_due": 0}]
    after_first = market.tables(*STATE_TABLES)
    campaigns.fail_expired_campaigns(market.services)
    assert market.tables(*STATE_TABLES) == after_first
    assert campaign_row(market, running)["state"] == "open"
    certificate = campaigns.certificate
    assert certificate(market.services, campaign_id, alice)["state"] == "refund due"
    assert certificate(market.services, campaign_id, bob)["state"] == "awaiting payment"
    assert campaigns.campaign_view(market.services, campaign_id)["refunds_due"] == 1
    assert deals.reserved(market.services, listing_id) == 0


def test_a_closed_campaign_is_retired_once_for_what_was_paid(market: Market) -> None:
    listing_id, campaign_id = open_campaign(market)
    alice, bob, carol = subscribe(market, campaign_id, ("alice", 300), ("bob", 200), ("carol", 100))
    record_payments(market, campaign_id, [alice, carol])
    market.registry.on_send = lambda mined: market.index.retirement(41, 400, mined)
    close = lambda: campaigns.close_campaign(market.services, market.reader, caller(SELLER), campaign_id)  # noqa: E731
    view = close()
    assert (view["state"], view["retirement_id"], view["tx_hash"]) == ("retired", 41, receipt(1).tx_hash)
    ((call, request),) = market.registry.sent
    assert (call, request.batch_id, request.amount) == ("retire", BATCH, 400)
    leaves = market.store.rows("SELECT id, leaf_index FROM subscription ORDER BY id")
    assert leaves == [{"id": alice, "leaf_index": 0}, {"id": bob, "leaf_index": None}, {"id": carol, "leaf_index": 1}]
    points = market.store.rows("SELECT holder, points, grams, source FROM carbon_points ORDER BY id")
    assert points == [
        {"holder": "alice", "points": 30, "grams": 300, "source": f"campaign {campaign_id}"},
        {"holder": "carol", "points": 10, "grams": 100, "source": f"campaign {campaign_id}"},
        {"holder": SELLER, "points": 4, "grams": 400, "source": f"rebate: campaign {campaign_id}"},
    ]
    assert market.store.rows("SELECT state FROM intent") == [{"state": "done"}]
    assert deals.reserved(market.services, listing_id) == 400
    assert_refused(market, close, Conflict, "campaign_closed")
    pass_deadline(market, campaign_id)
    before = market.tables(*STATE_TABLES)
    campaigns.fail_expired_campaigns(market.services)
    assert market.tables(*STATE_TABLES) == before
    assert len(market.registry.sent) == 1


def test_a_refused_campaign_retirement_reopens_the_campaign(market: Market) -> None:
    _, campaign_id = open_campaign(market)
    (alice,) = subscribe(market, campaign_id, ("alice", 300))
    record_payments(market, campaign_id, [alice])
    market.registry.refuse = ContractRevert("BatchFrozen", {"batchId": BATCH})
    with pytest.raises(ContractRevert):
        campaigns.close_campaign(market.services, market.reader, caller(SELLER), campaign_id)
    row = campaign_row(market, campaign_id)
    assert (row["state"], row["intent_id"], row["retirement_id"]) == ("open", None, None)
    assert market.store.rows("SELECT state, status FROM intent") == [{"state": "failed", "status": 422}]
    assert market.store.rows("SELECT leaf_index FROM subscription") == [{"leaf_index": None}]
    assert market.store.rows("SELECT id FROM carbon_points") == []
    subscribe(market, campaign_id, ("bob", 10))  # open again


# offsets ------------------------------------------------------------------------------------------
def _offset_intent(m: Market) -> int:
    return m.store.create_intent(kind="offset", actor=SELLER, key_name="seller", request={"plan": [[BATCH, 10]]})


def _reserve(m: Market, root: str, *order_ids: str) -> int:
    orders = [(order_id, 5, "{}") for order_id in order_ids]
    return m.store.reserve_offset(
        root=root, account=SELLER, orders=orders, total=5 * len(orders), intent_id=_offset_intent(m)
    )


def test_an_order_id_is_reserved_once(market: Market) -> None:
    _reserve(market, "0x01", "o-1", "o-2")
    with pytest.raises(sqlite3.IntegrityError):
        _reserve(market, "0x02", "o-3", "o-2")
    assert market.store.rows("SELECT root, state FROM offset_batch") == [{"root": "0x01", "state": "pending"}]
    assert market.store.known_orders(["o-1", "o-2", "o-3"]) == ["o-1", "o-2"]
    assert market.store.reserved_offset_grams(SELLER) == {BATCH: 10}


def test_a_released_offset_gives_its_order_ids_back(market: Market) -> None:
    offset_id = _reserve(market, "0x01", "o-1", "o-2")
    market.store.release_offset(offset_id)
    assert market.store.known_orders(["o-1", "o-2"]) == []
    assert market.store.rows("SELECT id FROM offset_batch") == []
    assert market.store.reserved_offset_grams(SELLER) == {}
    again = _reserve(market, "0x01", "o-1", "o-2")
    assert market.store.known_orders(["o-1", "o-2"]) == ["o-1", "o-2"]
    assert again != offset_id


def test_an_offset_is_shown_only_once_done(market: Market) -> None:
    offset_id = _reserve(market, "0x01", "o-1", "o-2")
    assert market.store.offset(offset_id) is None
    assert market.store.order("o-1") is None
    market.store.complete_offset(offset_id, [{"retirement_id": 3, "batch_id": BATCH, "amount": 10}])
    offset = market.store.offset(offset_id)
    assert offset is not None
    assert (offset["orders"], offset["total_grams"], offset["retirements"][0]["retirement_id"]) == (2, 10, 3)
    assert market.store.order("o-2") == (offset_id, 1, 5, "{}")
    assert market.store.reserved_offset_grams(SELLER) == {}


def _orders(*order_ids: str, shopper: str | None = "alice") -> dict[str, Any]:
    leg = {"mode": "road", "distance_km": 100, "weight_kg": 2}
    return {"orders": [{"order_id": o, "legs": [leg], "shopper": shopper} for o in order_ids]}


def _offset(m: Market, body: dict[str, Any]) -> dict[str, Any]:
    return offset_orders(m.services, m.reader, SELLER, "seller", body)


def test_offsetting_orders_shows_them_once_the_retirement_is_mined(market: Market) -> None:
    answer = _offset(market, _orders("o-1", "o-2"))
    offset_id = answer["offset_id"]
    assert answer["orders"] == 2 and answer["retirements"][0]["retirement_id"] == 41
    ((call, request),) = market.registry.sent
    assert (call, request.batch_id, request.amount) == ("retire", BATCH, answer["total_grams"])
    assert market.store.rows("SELECT state, status FROM intent") == [{"state": "done", "status": 201}]
    assert market.store.order("o-1") == (
        offset_id,
        0,
        answer["total_grams"] // 2,
        market.store.offset_orders(offset_id)[0][2],
    )
    assert market.store.points("alice")["grams"] == answer["total_grams"]
    assert_refused(market, lambda: _offset(market, _orders("o-3", "o-2")), Conflict, "order_already_offset")


def test_a_refused_offset_gives_its_orders_back(market: Market) -> None:
    market.registry.refuse = ContractRevert("BatchFrozen", {"batchId": BATCH})
    with pytest.raises(ContractRevert):
        _offset(market, _orders("o-1", "o-2"))
    assert market.store.known_orders(["o-1", "o-2"]) == []
    assert market.store.rows("SELECT id FROM offset_batch") == []
    assert market.store.rows("SELECT state FROM intent") == [{"state": "failed"}]
    market.registry.refuse = None
    assert _offset(market, _orders("o-1", "o-2"))["orders"] == 2


def test_an_order_reserved_meanwhile_refuses_the_offset_with_nothing_recorded(
    market: Market, monkeypatch: pytest.MonkeyPatch
) -> None:
    _reserve(market, "0x01", "o-2")
    # As if a concurrent request reserved o-2 between this one's check and its reservation.
    monkeypatch.setattr(market.store, "known_orders", lambda order_ids: [])
    assert_refused(market, lambda: _offset(market, _orders("o-1", "o-2")), Conflict, "order_already_offset")
    assert market.registry.sent == []


# the intent runner --------------------------------------------------------------------------------
CALLS: dict[str, list[int]] = {"complete": [], "release": []}


def _release_test(services: Any, intent: dict[str, Any], db: sqlite3.Connection) -> None:
    CALLS["release"].append(intent["id"])
    offset = db.execute("SELECT id FROM offset_batch WHERE intent_id = ?", (intent["id"],)).fetchone()
    if offset is not None:
        services.state.release_offset(offset[0])


@kind("test_kind", release=_release_test)
def _complete_test(services: Any, intent: dict[str, Any], mined: Receipt, db: sqlite3.Connection) -> dict[str, Any]:
    CALLS["complete"].append(intent["id"])
    db.execute(
        "INSERT INTO custodian (address, name, added_by, added_at) VALUES (?, 'settled', '', 0)", (mined.tx_hash,)
    )
    return {"completed": len(CALLS["complete"]), "tx_hash": mined.tx_hash}


@kind("test_kind_crashing")
def _complete_crashing(services: Any, intent: dict[str, Any], mined: Receipt, db: sqlite3.Connection) -> dict[str, Any]:
    db.execute("INSERT INTO custodian (address, name, added_by, added_at) VALUES (?, 'half', '', 0)", (mined.tx_hash,))
    raise RuntimeError("complete crashed")


@pytest.fixture
def writes(market: Market) -> Iterator[Writes]:
    CALLS["complete"].clear()
    CALLS["release"].clear()
    yield market.services.writes
    CALLS["complete"].clear()
    CALLS["release"].clear()


def begin(m: Market, writes: Writes, kind_name: str = "test_kind", *, reserve_orders: tuple[str, ...] = ()) -> int:
    def reserve(db: sqlite3.Connection, intent_id: int) -> None:
        if reserve_orders:
            orders = [(o, 5, "{}") for o in reserve_orders]
            m.store.reserve_offset(root="0x01", account=SELLER, orders=orders, total=5, intent_id=intent_id)

    return writes.begin(kind=kind_name, actor=SELLER, key_name="seller", request={"n": 1}, reserve=reserve)


def test_every_write_kind_is_registered() -> None:
    assert {"test_kind", "test_kind_crashing", "offset", "deliver", "campaign_retire"} <= set(KINDS)


def test_begin_records_the_intent_and_its_reservation_together(market: Market, writes: Writes) -> None:
    intent_id = begin(market, writes, reserve_orders=("o-1",))
    intent = intent_of(market, intent_id)
    assert (intent["state"], intent["status"], intent["kind"], intent["request"]) == (
        "reserved",
        200,
        "test_kind",
        {"n": 1},
    )
    assert market.store.rows("SELECT state, intent_id FROM offset_batch") == [
        {"state": "pending", "intent_id": intent_id}
    ]
    # Not yet carried by a request: one that never runs it leaves it to the reconciler to release.
    assert not writes.is_running(intent_id)


def test_begin_with_a_refusing_reserve_leaves_neither_intent_nor_reservation(market: Market, writes: Writes) -> None:
    def reserve(db: sqlite3.Connection, intent_id: int) -> None:
        market.store.reserve_offset(
            root="0x01", account=SELLER, orders=[("o-1", 5, "{}")], total=5, intent_id=intent_id
        )
        raise Conflict("insufficient_holdings", "refused after reserving")

    begin_refused = lambda: writes.begin(kind="test_kind", actor=SELLER, key_name="seller", request={}, reserve=reserve)  # noqa: E731
    assert_refused(market, begin_refused, Conflict, "insufficient_holdings")
    assert not writes.is_running(1)
    assert market.store.known_orders(["o-1"]) == []


def test_fail_gives_the_reservation_back_once(market: Market, writes: Writes) -> None:
    intent_id = begin(market, writes, reserve_orders=("o-1",))
    writes.fail(intent_id, Conflict("insufficient_holdings", "no"))
    writes.fail(intent_id, Conflict("other", "again"))
    assert CALLS["release"] == [intent_id]
    intent = intent_of(market, intent_id)
    assert (intent["state"], intent["status"]) == ("failed", 422)
    assert intent["answer"] == {"error": {"code": "insufficient_holdings", "message": "no"}}
    assert market.store.known_orders(["o-1"]) == []


def test_settle_completes_a_kind_once_and_answers_alike_every_time(market: Market, writes: Writes) -> None:
    intent_id = begin(market, writes)
    first = writes.settle(intent_id, receipt(1))
    second = writes.settle(intent_id, receipt(2))
    assert first == second == (200, {"completed": 1, "tx_hash": receipt(1).tx_hash})
    assert CALLS["complete"] == [intent_id]
    assert market.store.rows("SELECT address FROM custodian WHERE name = 'settled'") == [
        {"address": receipt(1).tx_hash}
    ]
    assert intent_of(market, intent_id)["state"] == "done"


def test_a_settled_intent_is_never_failed_nor_a_failed_one_settled(market: Market, writes: Writes) -> None:
    settled, failed = begin(market, writes), begin(market, writes)
    writes.settle(settled, receipt(1))
    writes.fail(settled, Conflict("late", "too late"))
    assert CALLS["release"] == []
    assert intent_of(market, settled)["state"] == "done"
    writes.fail(failed, Conflict("refused", "no"))
    assert writes.settle(failed, receipt(2)) == (422, {"error": {"code": "refused", "message": "no"}})
    assert CALLS["complete"] == [settled]


def test_a_complete_that_raises_settles_nothing(market: Market, writes: Writes) -> None:
    intent_id = begin(market, writes, "test_kind_crashing")
    with pytest.raises(RuntimeError, match="complete crashed"):
        writes.settle(intent_id, receipt(1))
    assert intent_of(market, intent_id)["state"] == "reserved"
    assert market.store.rows("SELECT address FROM custodian WHERE name = 'half'") == []


def test_run_settles_a_mined_write(market: Market, writes: Writes) -> None:
    intent_id = begin(market, writes)
    assert writes.run(intent_id, lambda: receipt(3)) == (200, {"completed": 1, "tx_hash": receipt(3).tx_hash})
    assert not writes.is_running(intent_id)


def test_run_fails_a_refused_write_and_releases_it(market: Market, writes: Writes) -> None:
    intent_id = begin(market, writes, reserve_orders=("o-1",))

    def send() -> Receipt:
        raise ContractRevert("BatchFrozen", {"batchId": BATCH})

    with pytest.raises(ContractRevert):
        writes.run(intent_id, send)
    assert intent_of(market, intent_id)["state"] == "failed"
    assert CALLS["release"] == [intent_id]
    assert not writes.is_running(intent_id)


def test_run_answers_accepted_while_the_transaction_is_pending(market: Market, writes: Writes) -> None:
    intent_id = begin(market, writes, reserve_orders=("o-1",))

    def send() -> Receipt:
        market.store.journal_tx(intent_id=intent_id, account=SELLER, nonce=0, tx_hash=receipt(4).tx_hash, raw="0x")
        raise TransactionPending(receipt(4).tx_hash, "no receipt yet")

    with pytest.raises(IntentAccepted) as accepted:
        writes.run(intent_id, send)
    assert (accepted.value.view["state"], accepted.value.view["status"]) == ("sent", None)
    assert [t["tx_hash"] for t in accepted.value.view["transactions"]] == [receipt(4).tx_hash]
    assert CALLS["release"] == []
    assert market.store.known_orders(["o-1"]) == ["o-1"]


def test_a_crash_after_journalling_keeps_the_intent_live_and_one_before_fails_it(
    market: Market, writes: Writes
) -> None:
    journalled, unsent = begin(market, writes), begin(market, writes)

    def crash_after_journal() -> Receipt:
        market.store.journal_tx(intent_id=journalled, account=SELLER, nonce=0, tx_hash=receipt(5).tx_hash, raw="0x")
        raise RuntimeError("killed")

    def crash_before() -> Receipt:
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        writes.run(journalled, crash_after_journal)
    with pytest.raises(RuntimeError):
        writes.run(unsent, crash_before)
    assert intent_of(market, journalled)["state"] == "sent"  # it may be mined: never reported failed
    assert intent_of(market, unsent)["state"] == "failed"
    assert CALLS["release"] == [unsent]


# checks and writes that other requests can interleave -----------------------------------------------
# Each test runs a second request at a point where a thread switch can happen between a function's check
# and its write (a call the function makes in between), as two API requests served concurrently would.
def _interleave(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, other: Callable[[], Any]) -> None:
    original = getattr(module, name)
    pending = [other]

    def hooked(*args: Any, **kwargs: Any) -> Any:
        if pending:
            pending.pop()()
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, hooked)


def test_a_campaign_never_reserves_beyond_its_listing_when_a_deal_is_accepted_meanwhile(
    market: Market, monkeypatch: pytest.MonkeyPatch
) -> None:
    market.store.create_token(key_name="seller", account=SELLER, label="seller")
    listing_id = make_listing(market, 2 * TONNE)["id"]
    offer_id = offer(market, listing_id, TONNE)["id"]
    _interleave(monkeypatch, campaigns, "_key_of", lambda: accept(market, offer_id))
    deadline = int(time.time()) + DAY
    with pytest.raises(Conflict) as refused:
        campaigns.open_campaign(market.services, market.reader, caller(SELLER), listing_id, 2 * TONNE, deadline)
    assert refused.value.code == "quantity_unavailable"
    assert deals.reserved(market.services, listing_id) <= 2 * TONNE


def test_a_second_campaign_opened_meanwhile_is_refused_with_campaign_exists(
    market: Market, monkeypatch: pytest.MonkeyPatch
) -> None:
    market.store.create_token(key_name="seller", account=SELLER, label="seller")
    listing_id = make_listing(market, TONNE)["id"]
    deadline = int(time.time()) + DAY
    args = (market.services, market.reader, caller(SELLER), listing_id, 500, deadline)
    _interleave(monkeypatch, campaigns, "_key_of", lambda: campaigns.open_campaign(*args))
    with pytest.raises(Conflict) as refused:
        campaigns.open_campaign(*args)
    assert refused.value.code == "campaign_exists"


def test_listings_created_meanwhile_never_exceed_the_sellers_balance(
    market: Market, monkeypatch: pytest.MonkeyPatch
) -> None:
    _interleave(monkeypatch, listings, "project_profile", lambda: make_listing(market, 6 * TONNE))
    with pytest.raises(Conflict) as refused:
        make_listing(market, 6 * TONNE)
    assert refused.value.code == "exceeds_unencumbered_balance"
    assert listings.encumbered(market.services, market.reader, SELLER, BATCH) <= 10 * TONNE


def test_an_intent_begun_but_never_run_is_released_by_the_reconciler(market: Market, writes: Writes) -> None:
    from node.writes.reconciler import Reconciler

    intent_id = begin(market, writes, reserve_orders=("o-left",))
    reconciler = Reconciler(None, writes, None, market.services)  # type: ignore[arg-type]
    reconciler._settle_intents()
    assert intent_of(market, intent_id)["state"] == "reserved", "young: its request may still be running it"
    market.store.execute("UPDATE intent SET created_at = created_at - 60 WHERE id = ?", (intent_id,))
    reconciler._settle_intents()
    assert intent_of(market, intent_id)["state"] == "failed"
    assert CALLS["release"] == [intent_id]
    assert market.store.known_orders(["o-left"]) == [], "its order ids are free again"
