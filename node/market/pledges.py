"""Pledges (质押): banks' liens on certificates, with the holder's consent, as the node serves them.

A holder asks the node for its signed consent to a named bank's lien on some of its free units (the node signs
with the holder's key, EIP-712, with the holder's next consent nonce read from the chain). The bank registers
the pledge with that consent; from then on those units cannot be transferred, retired or listed. The bank
releases them, or declares the holder in default with a written reason (its hash goes on chain, the text stays
in the node) and then takes them: a transfer to the bank recorded as the pledge's enforcement. Every step is a
ledger transaction through the node's intents, and the index keeps each pledge's state.
"""

import sqlite3
import time
from typing import Any

from eth_utils import keccak

from node.actors import Caller
from node.chain.eip712 import Signature
from node.chain.pledges import PledgeConsent, consent_signer, register_pledge, sign_consent
from node.chain.registry import ROLE_BANK
from node.chain.sender import Receipt
from node.errors import Conflict, Forbidden, InvalidRequest, not_found
from node.index.queries import get_batch, get_participant, get_pledge, pledged
from node.market.listings import encumbered
from node.services import Services
from node.writes.ledger import tx_answer
from node.writes.runner import kind

MAX_CONSENT_S = 30 * 86_400  # a consent must be used within a month


def _free(services: Services, reader: sqlite3.Connection, holder: str, batch_id: int) -> int:
    """Held, not pledged already, and not offered by the holder's live listings (a listing keeps its units
    for its buyers, so they cannot be pledged under it)."""
    row = reader.execute("SELECT amount FROM balance WHERE batch_id = ? AND account = ?", (batch_id, holder)).fetchone()
    held = (row[0] if row else 0) - pledged(connection=reader, account=holder, batch_id=batch_id)
    return held - encumbered(services, reader, holder, batch_id)


def _require_bank(reader: sqlite3.Connection, bank: str) -> None:
    participant = get_participant(connection=reader, address=bank)
    if participant is None or not participant["roles"] & ROLE_BANK:
        raise Conflict("not_a_bank", f"{bank} is not a registered participant with the bank role")


def _require_free(services: Services, reader: sqlite3.Connection, holder: str, batch_id: int, amount: int) -> None:
    if get_batch(connection=reader, batch_id=batch_id) is None:
        raise not_found(f"batch {batch_id}")
    free = _free(services, reader, holder, batch_id)
    if amount > free:
        raise Conflict("exceeds_free_balance", f"{amount} g of batch {batch_id} asked, {holder} holds {free} g free"
                       " (not pledged, not listed)")  # fmt: skip


def consent(services: Services, reader: sqlite3.Connection, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    """The holder's signed consent to the bank's lien (nothing is recorded: the bank registers it, or nobody)."""
    bank = body["bank"].lower()
    now = int(time.time())
    if not now < body["deadline"] <= now + MAX_CONSENT_S:
        raise InvalidRequest("validation_error", "deadline: a time to come, within 30 days")
    if bank == caller.account:
        raise InvalidRequest("validation_error", "bank: a holder does not pledge to itself")
    _require_bank(reader, bank)
    _require_free(services, reader, caller.account, body["batch_id"], body["amount"])
    nonce = int(services.registry.value("consentNonce", caller.account))
    terms = PledgeConsent(body["batch_id"], caller.account, bank, body["amount"], nonce, body["deadline"])
    signature = sign_consent(services.account(caller.owner.key_name), services.registry.domain(), terms)
    return {
        "batch_id": terms.batch_id, "holder": terms.holder, "bank": terms.bank, "amount": terms.amount,
        "nonce": terms.nonce, "deadline": terms.deadline,
        "signature": {"v": signature.v, "r": "0x" + signature.r.hex(), "s": "0x" + signature.s.hex()},
    }  # fmt: skip


def checked_pledge(services: Services, reader: sqlite3.Connection, caller: Caller,
                   body: dict[str, Any]) -> tuple[PledgeConsent, Signature]:  # fmt: skip
    """The consent and signature the bank sends, checked before anything is recorded or sent."""
    c = body["consent"]
    terms = PledgeConsent(c["batch_id"], c["holder"].lower(), c["bank"].lower(), c["amount"], c["nonce"],
                          c["deadline"])  # fmt: skip
    sig = body["signature"]
    signature = Signature(sig["v"], bytes.fromhex(sig["r"][2:]), bytes.fromhex(sig["s"][2:]))
    if terms.bank != caller.account:
        raise Forbidden("not_the_bank", "a consent is registered by the bank it names")
    try:
        signer = consent_signer(services.registry.domain(), terms, signature)
    except Exception:  # a signature that recovers to nothing
        signer = ""
    if signer != terms.holder:
        raise Conflict("consent_not_by_holder", "the consent is not signed by the holder it names")
    if terms.deadline < time.time():
        raise Conflict("consent_expired", f"the consent's deadline {terms.deadline} has passed")
    _require_free(services, reader, terms.holder, terms.batch_id, terms.amount)
    return terms, signature


def register(services: Services, sender: Any, terms: PledgeConsent, signature: Signature) -> Receipt:
    return register_pledge(services.registry, sender, terms, signature)


def pledge_view(services: Services, reader: sqlite3.Connection, pledge_id: int) -> dict[str, Any]:
    found = get_pledge(connection=reader, pledge_id=pledge_id)
    if found is None:
        raise not_found(f"pledge {pledge_id}")
    note = services.state.rows("SELECT reason FROM pledge_default WHERE pledge_id = ?", (pledge_id,))
    return {**found, "default_reason": note[0]["reason"] if note else None}


def bank_pledge(reader: sqlite3.Connection, caller: Caller, pledge_id: int, states: tuple[str, ...]) -> dict:
    """The caller's own pledge, in one of `states` (checked before a transaction is sent)."""
    row = reader.execute("SELECT bank, state FROM pledge WHERE id = ?", (pledge_id,)).fetchone()
    if row is None:
        raise not_found(f"pledge {pledge_id}")
    if row[0] != caller.account:
        raise Forbidden("not_the_bank", f"pledge {pledge_id} is another bank's")
    if row[1] not in states:
        raise Conflict("pledge_not_open", f"pledge {pledge_id} is {row[1]}")
    return {"bank": row[0], "state": row[1]}


def reason_hash(reason: str) -> bytes:
    return keccak(text=reason)


@kind("pledge")
def _registered(services: Any, intent: dict[str, Any], receipt: Receipt, db: sqlite3.Connection) -> dict[str, Any]:
    pledge_id = int(services.registry.event(receipt, "PledgeRegistered").args["pledgeId"])
    return tx_answer(receipt, pledge_id=pledge_id)


@kind("pledge_release")
def _released(services: Any, intent: dict[str, Any], receipt: Receipt, db: sqlite3.Connection) -> dict[str, Any]:
    return tx_answer(receipt, pledge_id=int(intent["request"]["pledge_id"]))


@kind("pledge_default")
def _defaulted(services: Any, intent: dict[str, Any], receipt: Receipt, db: sqlite3.Connection) -> dict[str, Any]:
    request = intent["request"]
    db.execute(
        "INSERT INTO pledge_default (pledge_id, reason, bank, at) VALUES (?,?,?,?) ON CONFLICT (pledge_id) DO NOTHING",
        (int(request["pledge_id"]), request["reason"], intent["actor"], int(time.time())),
    )
    return tx_answer(receipt, pledge_id=int(request["pledge_id"]))


@kind("pledge_enforce")
def _enforced(services: Any, intent: dict[str, Any], receipt: Receipt, db: sqlite3.Connection) -> dict[str, Any]:
    return tx_answer(receipt, pledge_id=int(intent["request"]["pledge_id"]))
