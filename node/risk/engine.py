"""The risk rule engine (事中实时监测): every indexed event is checked as it is applied, in chain order.

The engine's verdicts depend only on the ordered events and the node's off-chain facts about them (deal
prices, custodian receipts, monitoring data), never on how the events were cut into indexing ranges, so a
restart, a reorg replay or a full re-index raises exactly the same alerts. Its working state (windows of
recent trades, holdings per batch, reference prices) lives in memory and is rebuilt from the index on
start (`warm`): every rule looks back at most `horizon` seconds, so the index's last `horizon` of trades,
its balances, every account's first transfer and its alert keys are all it needs.

The rules' definitions, which this code must meet exactly (a reference implementation is compared with it
alert for alert), are in docs/supervision.md and node/risk/rules.toml.

Alerts are rows of the index table `alert` (derived state, like balances): rule, severity, the
participants, the events and deals that are its evidence, and an explanation in Chinese and English.
"""

import hashlib
import math
import sqlite3
from bisect import bisect_left, insort
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any, NamedTuple, Protocol
from zoneinfo import ZoneInfo

import orjson

from node.risk.config import load_rules
from registry.units import deal_total_fen, vintage_of

GRAMS_PER_TONNE = 1_000_000
ZERO_REF = "0x" + "00" * 32
DAY = 86_400
WEEK = 7 * DAY
TRIM_AT = 512  # an account's trade list is pruned and compacted when it grows past this (or twice its size)
# A (transfers, grams) pair packed in one int, grams · 2³² + transfers: a dict of ints is not tracked by the cyclic
# collector (a dict of [n, g] lists is, with every list), and sums of packed pairs are the packed sums as long
# as a count stays below 2³² (an account's transfers in 90 days).
COUNT_BITS = 32  # one transfer of g grams: g << COUNT_BITS | 1
COUNT_MASK = (1 << COUNT_BITS) - 1


class DealFact(NamedTuple):
    """What the node knows of a deal. A tuple of plain values, like Trade, so that the collector stops
    tracking it (the windows hold hundreds of thousands of them)."""

    deal_id: int
    price_fen_per_tonne: int
    receipt_amount_fen: int | None


class Facts(Protocol):
    """What the node knows off chain about on-chain events."""

    def deal(self, deal_ref: str) -> DealFact | None: ...

    def tree_stock(self, evidence_root: str) -> tuple[int, int] | None:
        """(stock at the start, stock at the end of the period) in grams CO2e, from the monitoring data."""
        ...

    def project_kind(self, project_id: int) -> str: ...

    def backing(self, evidence_root: str) -> "Backing | None":
        """The monitoring report this node computed for an evidence root, if any (issuance_not_backed)."""
        ...

    def organisation(self) -> int | None:
        """This node's organisation: its projects' batches must be backed by a report here."""
        ...


@dataclass(frozen=True)
class Backing:
    project_id: int
    creditable_grams: int


class Rules(Protocol):
    """What the indexer needs of the risk rules, run in its own thread (`RiskEngine`) or in a process of
    their own (`node.risk.worker.RiskWorker`)."""

    def observe(self, name: str, args: dict[str, Any], block: int, log: int, tx: str, when: int) -> None: ...

    def flush(self) -> None:
        """Hands over any events still buffered, so that the rules check them while the caller goes on."""
        ...

    def take(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]: ...

    def reset(self) -> None: ...

    def warm(self, db: sqlite3.Connection) -> None: ...

    def close(self) -> None: ...


class NoFacts:
    def deal(self, deal_ref: str) -> DealFact | None:
        return None

    def tree_stock(self, evidence_root: str) -> tuple[int, int] | None:
        return None

    def project_kind(self, project_id: int) -> str:
        return ""

    def backing(self, evidence_root: str) -> Backing | None:
        return None

    def organisation(self) -> int | None:
        return None


class Trade(NamedTuple):
    """One transfer as the rules see it. A tuple of plain values: the engine makes one per event and keeps
    those of its windows, and the cyclic collector stops tracking a tuple that holds no container, so they
    cost no collection time (a slotted class is tracked for ever)."""

    time: int
    block: int
    log: int
    tx: str
    batch: int
    sender: str
    receiver: str
    grams: int
    deal_id: int | None  # None: no deal known for the transfer
    price: int  # fen per tonne; 0 without a deal
    receipt: int | None  # the custodian receipt's amount in fen, when there is one

    @property
    def ref(self) -> dict[str, Any]:
        return {"block": self.block, "log": self.log, "tx": self.tx, "batch": self.batch}


def _exact(value: float) -> Fraction:
    """A share, band or tolerance of rules.toml as the decimal fraction written there (0.1 is 1/10)."""
    return Fraction(str(value))


def _median_of_sorted(values: list[int]) -> float:
    """As statistics.median of a sorted list: the middle value, or the mean of the two middle ones."""
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


class Account:
    """One account's working state. Its recent trades are one time-ordered list of (time, counterparty,
    grams), read through two windows pruned on their own: the last 7 days (velocity) from `week_head` and
    the last 30 days by counterparty (concentration) from `month_head`. A window's figures only shrink when
    it is pruned, so a figure below a bar before pruning is below it after, and most trades never prune.
    Velocity's baseline reads `days`: the account's transfers by day counted from its first transfer."""

    __slots__ = (
        "bars_day",
        "bucket_day",
        "count_bar",
        "count_median",
        "days",
        "first",
        "grams_bar",
        "holding",
        "month_head",
        "next_sample",
        "noted_week",
        "organisation",
        "pair_sums",
        "pair_total",
        "registered",
        "sample_counts",
        "sample_grams",
        "sampled_to",
        "samples",
        "trades",
        "trim_at",
        "velocity_week",
        "volume_median",
        "week_count",
        "week_grams",
        "week_head",
    )

    def __init__(self) -> None:
        self.organisation: int | None = None
        self.registered: int | None = None
        self.first: int | None = None  # the time of its first transfer, sent or received
        self.holding: dict[int, int] = {}  # batch -> grams held
        self.trades: list[tuple[int, str, int]] = []
        self.week_head = self.month_head = 0
        self.week_count = self.week_grams = 0
        self.pair_sums: dict[str, int] = {}  # counterparty -> deals and grams in the 30 days, packed
        self.pair_total = 0
        self.days: dict[int, int] = {}  # day since the first transfer -> transfers and grams, packed
        self.bucket_day = -1  # the day of its latest transfer
        # The medians of the baseline's samples as of day `bars_day` and the figures above which the account
        # is hot (the multiple of each median), worked out once a day when the account is above a floor.
        self.bars_day = -1
        self.count_median = self.volume_median = 0.0
        self.count_bar = self.grams_bar = math.inf
        self.velocity_week = -1  # the last week (since the first transfer) known to have its alert
        self.noted_week = -1  # the last week noted as not judged (velocity's warm-up)
        # The baseline's samples in day order, (k, count, grams), and the same figures kept sorted (for the
        # medians); a sample k sums days k − 7 … k − 1, all past once it is read, so it never changes.
        self.samples: deque[tuple[int, int, int]] = deque()
        self.sample_counts: list[int] = []
        self.sample_grams: list[int] = []
        self.sampled_to = -1  # the last sample taken
        self.next_sample = 0  # the packed sums of sample sampled_to + 1
        self.trim_at = TRIM_AT

    def young(self, now: int, age_s: int) -> bool:
        """Registered less than `age_s` before `now` (the new-account rule)."""
        return self.registered is not None and now - self.registered < age_s


class RiskEngine:
    def __init__(self, facts: Facts | None = None, rules: dict[str, dict[str, Any]] | None = None) -> None:
        self.facts = facts or NoFacts()
        self.rules = rules or load_rules()
        self.zone = ZoneInfo(self.rules["same_day_resale"]["timezone"])
        self._offsets: dict[int, int] = {}  # hour -> the zone's UTC offset then
        r = self.rules
        self.round_window = r["round_trip"]["window_s"]
        self.wash_window = max(r["wash_loop"]["windows_s"])
        self.resale_floor = r["same_day_resale"]["min_grams"]
        self.price_window = r["price_band"]["window_s"]
        self.financing_window = r["disguised_financing"]["window_s"]
        self.block_grams = r["price_band"]["block_grams"]
        self.band = _exact(r["price_band"]["band"]).as_integer_ratio()
        self.block_band = _exact(r["price_band"]["block_band"]).as_integer_ratio()
        self.min_reference_deals = r["price_band"]["min_reference_deals"]
        self.week_s = r["velocity"]["window_s"]
        # Velocity's samples are 7-day sums ending at whole days since the account's first transfer: on day
        # c the baseline is the samples k of max(week_days, c − history_days + 1) ≤ k ≤ c − week_days, each
        # the days k − week_days … k − 1; days before c − keep_days are never read again.
        if self.week_s % DAY or r["velocity"]["history_s"] % DAY:
            raise ValueError("velocity: window_s and history_s are whole days")
        self.week_days = self.week_s // DAY
        self.history_days = r["velocity"]["history_s"] // DAY
        self.keep_days = self.history_days + self.week_days - 1
        self.velocity_warm_up = r["velocity"]["warm_up_s"]
        self.conc = r["counterparty_concentration"]
        self.conc_min_deals = self.conc["min_deals"]
        self.conc_share = _exact(self.conc["share"])
        self.velocity_floor_count = r["velocity"]["floor_count"]
        self.velocity_floor_grams = r["velocity"]["floor_grams"]
        holding = r["holding_concentration"]
        self.holding_share = _exact(holding["cap"]) * _exact(holding["report_at"])
        self.holding_ratio = self.holding_share.as_integer_ratio()
        self.young_s = r["new_account_volume"]["age_s"]
        self.new_warm_up = r["new_account_volume"]["warm_up_s"]
        if self.wash_window > self.round_window:
            raise ValueError("wash_loop: its windows are within round_trip's, whose window prunes the transfers")
        self.horizon = max(
            r["round_trip"]["window_s"],
            max(r["wash_loop"]["windows_s"]),
            r["price_band"]["window_s"],
            r["velocity"]["history_s"] + 3 * r["velocity"]["window_s"],
            r["counterparty_concentration"]["window_s"],
            r["new_account_volume"]["window_s"],
            r["disguised_financing"]["window_s"],
        )
        self.reset()

    # state ---------------------------------------------------------------------------------------
    def reset(self) -> None:
        self.alerts: list[tuple[Any, ...]] = []
        self.notes: list[tuple[Any, ...]] = []
        self.keys: set[str] = set()
        self.accounts: dict[str, Account] = {}
        self.buffer_accounts: set[str] = set()
        self.batch_group: dict[int, tuple[int, str]] = {}  # batch -> (vintage, project kind)
        self.batch_issue: dict[int, tuple[int, str]] = {}  # batch -> (quantity issued, owner)
        self.stock: dict[int, int] = {}  # project -> tree stock of its latest batch
        # Lists, not deques: a deque takes a 64-slot block, and most of these windows hold one or two trades.
        self.sends: dict[tuple[int, str], list[Trade]] = {}  # (batch, sender)
        self.received: dict[tuple[int, str], Trade] = {}  # (batch, receiver) -> latest arrival
        self.ledger_first: int | None = None  # the time of the ledger's first transfer
        # Volume by Asia/Shanghai day and every account's 30-day sum as of the start of the current day
        # (new accounts).
        self.day_volume: defaultdict[int, dict[str, int]] = defaultdict(dict)
        # (time, table, key) of every window key when it was last written, oldest first: a key whose
        # newest entry is older than the longest window is dropped, so memory follows the windows.
        self.expiry: deque[tuple[int, int, Any]] = deque()
        self.month_volume: defaultdict[str, int] = defaultdict(int)
        self.volume_day = -1
        self.deals_between: dict[tuple[int, str, str], list[Trade]] = {}
        self.prices: defaultdict[tuple[int, str], deque[Trade]] = defaultdict(deque)
        self.price_sums: defaultdict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])  # Σp·g, Σg
        self.percentile_day = -1
        self.volume_percentile: float | None = None
        self.latest = 0

    def warm(self, db: sqlite3.Connection) -> None:
        """Rebuilds the working state from a committed index (after a restart)."""
        self.reset()
        self.keys = {row[0] for row in db.execute("SELECT key FROM alert")}
        for address, organisation, registered in db.execute(
            "SELECT address, organisation, registered_time FROM participant"
        ):
            account = self._account(address)
            account.organisation, account.registered = organisation, registered
        for batch, project, period_end, quantity, owner, buffer_account, root in db.execute(
            "SELECT id, project_id, period_end, quantity, owner, buffer_account, evidence_root FROM batch ORDER BY id"
        ):
            vintage = self._vintage(period_end)
            self.batch_group[batch] = (vintage, self.facts.project_kind(project))
            self.batch_issue[batch] = (quantity, owner)
            self.buffer_accounts.add(buffer_account)
            stock = self.facts.tree_stock(root)
            if stock is not None:
                self.stock[project] = stock[1]
        for (account,) in db.execute(
            "SELECT DISTINCT account FROM chain_event WHERE name = 'BufferConfigured' AND account IS NOT NULL"
        ):
            self.buffer_accounts.add(account)
        for batch, account, amount in db.execute("SELECT batch_id, account, amount FROM balance"):
            if batch in self.batch_group:
                self._hold(account, batch, amount)
        # Every account's first transfer (velocity's days are counted from it), sent or received.
        for column in ("account", "counterparty"):
            for address, first in db.execute(
                f"SELECT {column}, MIN(block_time) FROM chain_event WHERE name = 'CertificateTransferred'"
                f" GROUP BY {column}"
            ):
                account = self._account(address)
                if account.first is None or first < account.first:
                    account.first = first
        row = db.execute(
            "SELECT block_time FROM chain_event WHERE name = 'CertificateTransferred'"
            " ORDER BY block_number, log_index LIMIT 1"
        ).fetchone()
        self.ledger_first = row[0] if row else None
        row = db.execute("SELECT MAX(block_time) FROM chain_event").fetchone()
        latest = row[0] or 0
        for block, log, tx, when, args in db.execute(
            "SELECT block_number, log_index, tx_hash, block_time, args FROM chain_event"
            " WHERE name = 'CertificateTransferred' AND block_time >= ? ORDER BY block_number, log_index",
            (latest - self.horizon,),
        ):
            trade = self._trade(orjson.loads(args), block, log, tx, when)
            self._remember(trade, self._account(trade.sender), self._account(trade.receiver))
        # Velocity notes one young account once a week; the weeks already noted come back from the notes
        # themselves (each starts with the account's address), so a restart writes no second note.
        for note, when in db.execute(
            "SELECT n.note, e.block_time FROM risk_note n JOIN chain_event e"
            " ON e.block_number = n.block_number AND e.log_index = n.log_index"
            " WHERE n.rule = 'velocity' AND e.block_time >= ?",
            (latest - self.week_s,),
        ):
            noted = self.accounts.get(note.split(":", 1)[0])
            if noted is not None and noted.first is not None:
                noted.noted_week = max(noted.noted_week, (when - noted.first) // self.week_s)
        self.latest = latest

    # events --------------------------------------------------------------------------------------
    def observe(self, name: str, args: dict[str, Any], block: int, log: int, tx: str, when: int) -> None:
        self.latest = max(self.latest, when)
        if name == "CertificateTransferred":
            self._transferred(self._trade(args, block, log, tx, when))
        elif name == "BatchIssued":
            self._issued(args, block, log, tx, when)
        elif name == "CertificateRetired" and args["batchId"] in self.batch_group:
            self._hold(args["holder"], args["batchId"], -args["amount"])
        elif name == "ParticipantRegistered":
            account = self._account(args["account"])
            account.organisation, account.registered = args["organisation"], when
        elif name == "BufferConfigured":
            self.buffer_accounts.add(args["account"])
        elif name == "ReversalRecorded" and args["batchId"] in self.batch_group:
            self._hold(args["bufferAccount"], args["batchId"], -args["amount"])

    def take(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """The alert and note rows raised since the last call, for the index to insert."""
        alerts, notes = self.alerts, self.notes
        self.alerts, self.notes = [], []
        return alerts, notes

    def flush(self) -> None:
        """Nothing buffered: every event was checked when observed."""

    def close(self) -> None:
        """Nothing to stop: the engine lives in the indexer's thread."""

    # ---------------------------------------------------------------------------------------------
    def _account(self, address: str) -> Account:
        account = self.accounts.get(address)
        if account is None:
            account = self.accounts[address] = Account()
        return account

    def _hold(self, address: str, batch: int, grams: int) -> None:
        holding = self._account(address).holding
        holding[batch] = holding.get(batch, 0) + grams

    def _vintage(self, period_end: int) -> int:
        return vintage_of(period_end)

    def _trade(self, args: dict[str, Any], block: int, log: int, tx: str, when: int) -> Trade:
        deal_ref = args.get("dealRef")
        deal = self.facts.deal(deal_ref) if deal_ref and deal_ref != ZERO_REF else None
        batch, sender, receiver, grams = int(args["batchId"]), args["from"], args["to"], args["amount"]
        if deal is None:
            return Trade(when, block, log, tx, batch, sender, receiver, grams, None, 0, None)
        return Trade(when, block, log, tx, batch, sender, receiver, grams, *deal)

    def _issued(self, a: dict[str, Any], block: int, log: int, tx: str, when: int) -> None:
        batch, project = int(a["batchId"]), a["projectId"]
        vintage = self._vintage(a["periodEnd"])
        self.batch_group[batch] = (vintage, self.facts.project_kind(project))
        self.batch_issue[batch] = (a["quantity"], a["owner"])
        self.buffer_accounts.add(a["bufferAccount"])
        self._hold(a["bufferAccount"], batch, a["bufferAmount"])
        self._hold(a["owner"], batch, a["quantity"] - a["bufferAmount"])
        ref = {"block": block, "log": log, "tx": tx, "batch": batch}
        self._not_backed(a, batch, ref, when)
        # An owner's own issuance is not an acquisition: holdings are judged when units are received.
        stock = self.facts.tree_stock(a["evidenceRoot"])
        if stock is None:
            return
        start, end = stock
        reference = self.stock.get(project, start)
        self.stock[project] = end
        loss = reference - end
        rule = self.rules["ecological_loss"]
        if loss >= rule["min_loss_grams"]:
            zh, en = loss_explanation(project, loss)
            # Keyed by the monitoring report, as the node keys the alert it raised when the report arrived.
            self._alert(
                "ecological_loss", when, block, log, tx, [a["owner"]], [ref], [], zh, en,
                {"project_id": project, "loss_grams": loss, "previous_stock_grams": reference, "stock_grams": end,
                 "evidence_root": a["evidenceRoot"].lower(),
                 "proposed_reversal": {"batch_id": batch, "amount": loss, "loss_project_id": project}},
                dedup=report_identity(a["evidenceRoot"]),
            )  # fmt: skip

    def _not_backed(self, a: dict[str, Any], batch: int, ref: dict[str, Any], when: int) -> None:
        """A batch issued for other figures than the node's report for its evidence root computes, or for a
        project of the node's own organisation with no report here (issued without this node)."""
        root, issued, project = a["evidenceRoot"].lower(), a["quantity"], a["projectId"]
        backing = self.facts.backing(root)
        if backing is None:
            own = self.facts.organisation()
            owner = self.accounts.get(a["owner"])
            if own is None or owner is None or owner.organisation != own:
                return
            state, computed = "no_report", None
        elif backing.creditable_grams == issued and backing.project_id == project:
            return
        else:
            state, computed = "differs", backing.creditable_grams
        zh, en = not_backed_explanation(batch, project, issued, computed, backing.project_id if backing else None)
        self._alert(
            "issuance_not_backed", when, ref["block"], ref["log"], ref["tx"], [a["owner"], a["verifier"], a["issuer"]],
            [ref], [], zh, en,
            {"batch_id": batch, "project_id": project, "evidence_root": root, "state": state,
             "issued_grams": issued, "computed_grams": computed,
             "report_project_id": backing.project_id if backing else None},
            dedup=f"batch:{batch}",
        )  # fmt: skip

    def _transferred(self, t: Trade) -> None:
        batch, sender, receiver, grams, now = t.batch, t.sender, t.receiver, t.grams, t.time
        accounts = self.accounts
        source = accounts.get(sender) or self._account(sender)
        target = accounts.get(receiver) or self._account(receiver)
        if self.ledger_first is None:
            self.ledger_first = now
        group = self.batch_group.get(batch)
        if group is not None:
            held = source.holding
            held[batch] = held.get(batch, 0) - grams
            held = target.holding
            held[batch] = held.get(batch, 0) + grams
        arrival = self.received.get((batch, sender))
        # A cycle back to the sender needs the sender to have received this batch within the window: most
        # senders (owners selling their own issuance) never have, and the searches are skipped.
        returned = False
        if arrival is not None and arrival.time >= now - self.round_window:
            returned = self._round_trip(t)
            if grams >= self.resale_floor and self._local_day(arrival.time) == self._local_day(now):
                self._same_day_resale(t, arrival)
            if arrival.time >= now - self.wash_window:
                self._wash_loop(t, arrival)
        organisation = source.organisation if source.organisation == target.organisation else None
        if t.price > 0:
            off_band = self._price_band(t, group)
            if organisation is not None:  # both sides of one organisation
                self._related_parties(t, organisation, off_band, returned)
        elif organisation is not None:
            self._intra_group(t, organisation)
        if t.deal_id is not None:
            self._disguised_financing(t)
        self._remember(t, source, target, check=True)
        young_since = now - self.young_s  # registered after this: young (inlined Account.young)
        if (source.registered is not None and source.registered > young_since) or (
            target.registered is not None and target.registered > young_since
        ):
            self._new_account(t, source, target)
        if group is not None and receiver not in self.buffer_accounts:
            quantity, owner = self.batch_issue[batch]
            numerator, denominator = self.holding_ratio
            if receiver != owner and held[batch] * denominator >= numerator * quantity:
                self._holding_check(receiver, batch, quantity, held[batch], now, [t.ref])

    def _local_day(self, when: int) -> int:
        hour = when // 3_600
        offset = self._offsets.get(hour)
        if offset is None:
            delta = datetime.fromtimestamp(when, self.zone).utcoffset()
            offset = self._offsets[hour] = int(delta.total_seconds()) if delta else 0
        return (when + offset) // DAY

    def _remember(self, t: Trade, source: Account, target: Account, check: bool = False) -> None:
        batch, sender, receiver, grams, now = t.batch, t.sender, t.receiver, t.grams, t.time
        expiry = self.expiry
        key = (batch, sender)
        sends = self.sends.get(key)
        if sends is None:
            sends = self.sends[key] = []
            expiry.append((now, 0, key))
        sends.append(t)
        if sends[0].time < now - self.round_window:  # the longest window that reads it: a month, not the horizon
            self._recent(sends, now - self.round_window)
        key = (batch, receiver)
        if key not in self.received:
            expiry.append((now, 1, key))
        self.received[key] = t
        # Every window filters by time when it is read, so keys expire in a batch a day late.
        if expiry[0][0] < now - self.horizon - DAY:
            self._expire_keys(now)
        day = self._local_day(now)
        if day != self.volume_day:
            self._roll_days(day)
        volumes = self.day_volume[day]
        packed = grams << COUNT_BITS | 1
        for account, own, other in ((source, sender, receiver), (target, receiver, sender)):
            first = account.first
            if first is None:
                first = account.first = now
            since_first = (now - first) // DAY
            days = account.days
            if account.bucket_day != since_first:
                account.bucket_day = since_first
                if len(days) > 2 * self.keep_days:  # twice: each scan drops at least half
                    for old in [d for d in days if d < since_first - self.keep_days]:
                        del days[old]  # older than any baseline today or later reads
            days[since_first] = days.get(since_first, 0) + packed
            account.trades.append((now, other, grams))
            account.week_count += 1
            account.week_grams += grams
            pair_sums = account.pair_sums
            pair_sums[other] = pair = pair_sums.get(other, 0) + packed
            account.pair_total += grams
            volumes[own] = volumes.get(own, 0) + grams
            if len(account.trades) > account.trim_at:
                self._trim(account, now)
            if check:
                count, volume = account.week_count, account.week_grams  # before pruning: at least the figures
                if (count >= self.velocity_floor_count or volume >= self.velocity_floor_grams) and (
                    account.bars_day != since_first or count > account.count_bar or volume > account.grams_bar
                ):
                    self._velocity(t, own, account, since_first)
                if pair & COUNT_MASK >= self.conc_min_deals:
                    self._concentration(t, own, other, account)
        price = t.price
        if price > 0:  # only priced deals: buy-backs and references
            key3 = (batch, sender, receiver)
            between = self.deals_between.get(key3)
            if between is None:
                between = self.deals_between[key3] = []
                expiry.append((now, 3, key3))
            between.append(t)
            if between[0].time < now - self.financing_window:
                self._recent(between, now - self.financing_window)
            group = self.batch_group.get(batch)
            if group is not None:
                self.prices[group].append(t)
                sums = self.price_sums[group]
                sums[0] += price * grams
                sums[1] += grams

    def _expire_keys(self, now: int) -> None:
        """Drops the window keys with nothing newer than the horizon; a key still in use is looked at
        again one horizon later. Each key is queued once per horizon, not once per event."""
        expiry, limit = self.expiry, now - self.horizon
        while expiry and expiry[0][0] < limit:
            _, table, key = expiry.popleft()
            if table == 1:
                arrival = self.received.get(key)
                newest = arrival.time if arrival is not None else None
                windows: Any = self.received
            else:
                windows = (self.sends, None, None, self.deals_between)[table]
                window = windows.get(key)
                newest = window[-1].time if window else None
            if newest is None or newest < limit:
                windows.pop(key, None)
            else:
                expiry.append((now, table, key))

    def _trim(self, account: Account, now: int) -> None:
        """Bounds an account's memory: prunes both windows and drops what neither still reads."""
        self._prune_week(account, now)
        self._prune_pairs(account, now)
        cut = min(account.week_head, account.month_head)
        if cut:
            del account.trades[:cut]
            account.week_head -= cut
            account.month_head -= cut
        account.trim_at = max(TRIM_AT, 2 * len(account.trades))

    def _prune_week(self, account: Account, now: int) -> None:
        """The account's last 7 days (velocity)."""
        trades, head, limit = account.trades, account.week_head, now - self.week_s
        end = len(trades)
        while head < end and trades[head][0] <= limit:
            account.week_count -= 1
            account.week_grams -= trades[head][2]
            head += 1
        account.week_head = head

    def _prune_pairs(self, account: Account, now: int) -> None:
        """The account's 30 days by counterparty (concentration). The trade at hand is already counted,
        so its own counterparty never drops to zero here."""
        trades, head, limit = account.trades, account.month_head, now - self.conc["window_s"]
        pair_sums = account.pair_sums
        end = len(trades)
        while head < end and trades[head][0] < limit:
            _, gone, grams = trades[head]
            left = pair_sums[gone] - (grams << COUNT_BITS | 1)
            account.pair_total -= grams
            if left & COUNT_MASK:
                pair_sums[gone] = left
            else:
                del pair_sums[gone]
            head += 1
        account.month_head = head

    @staticmethod
    def _recent(window: list[Trade], since: int) -> list[Trade]:
        """The window without its trades before `since` (dropped for good: `since` only grows)."""
        if window and window[0].time < since:
            end, stale = len(window), 1
            while stale < end and window[stale].time < since:
                stale += 1
            del window[:stale]
        return window

    # rules ---------------------------------------------------------------------------------------
    def _round_trip(self, t: Trade) -> bool:
        """t: X→Y of batch b. Did units of b leave Y and reach X through transfers of b, in chain order,
        within the window? Then they return to Y, an earlier holder."""
        rule = self.rules["round_trip"]
        path = self._time_path(t, t.time - rule["window_s"], rule["max_cycle_length"] - 1)
        if path is None:
            return False
        first = path[0]
        severity = "high" if t.time - first.time <= rule["high_within_s"] else rule["severity"]
        members = [first.sender, *[p.receiver for p in path]]
        days = (t.time - first.time) / DAY
        loop = " → ".join(m[:10] for m in [*members, t.receiver])
        self._alert(
            "round_trip", t.time, t.block, t.log, t.tx, members, [*[p.ref for p in path], t.ref],
            self._deal_ids([*path, t]),
            f"批次 {t.batch} 的碳汇在 {days:.1f} 天内回到原持有人：{loop}。",
            f"Units of batch {t.batch} came back to an earlier holder within {days:.1f} days: {loop}.",
            {"batch_id": t.batch, "cycle_length": len(path) + 1, "days": round(days, 2)},
            severity=severity,
        )  # fmt: skip
        return True

    def _time_path(self, t: Trade, since: int, depth: int) -> list[Trade] | None:
        """A chain of at most `depth` transfers of t's batch from t's receiver to t's sender, each later in
        chain order than the one before and none before `since`: breadth first, each account's transfers in
        chain order, the first to reach the goal ends the search; at most 256 partial chains go on to the
        next step (the first made)."""
        batch, goal, sends = t.batch, t.sender, self.sends
        keep = t.time - self.round_window  # the longest window that reads `sends`: older ones are dropped
        frontier: list[tuple[str, int, int, list[Trade]]] = [(t.receiver, -1, -1, [])]
        for _ in range(depth):
            following: list[tuple[str, int, int, list[Trade]]] = []
            for account, block, log, path in frontier:
                window = sends.get((batch, account))
                if not window:
                    continue
                for sent in self._recent(window, keep):
                    if sent.time < since or sent.block < block or (sent.block == block and sent.log <= log):
                        continue
                    if sent.receiver == goal:
                        return [*path, sent]
                    if len(following) < 256:
                        following.append((sent.receiver, sent.block, sent.log, [*path, sent]))
            frontier = following
            if not frontier:
                return None
        return None

    def _wash_loop(self, t: Trade, arrival: Trade) -> None:
        """t: X→Y of batch b. For the smallest window w holding a chain of transfers of b from Y back to X
        (as round_trip finds it), the members' net positions over the transfers of b among them in [t − w,
        t], this one included, must all stay within the tolerance of their mean size."""
        rule = self.rules["wash_loop"]
        depth = rule["max_cycle_length"] - 1
        path = None
        for window in sorted(rule["windows_s"]):
            since = t.time - window
            if arrival.time >= since:  # the chain's last transfer reaches X: X received b since then
                path = self._time_path(t, since, depth)
                if path is not None:
                    break
        if path is None:
            return
        members = {t.sender, t.receiver, *[p.receiver for p in path]}
        # In chain order: the members are a set, whose order differs from process to process.
        inside = [
            trade
            for m in members
            for trade in self.sends.get((t.batch, m), ())
            if trade.time >= since and trade.receiver in members
        ]
        inside.sort(key=lambda trade: (trade.block, trade.log))
        inside.append(t)
        net: defaultdict[str, int] = defaultdict(int)
        total = 0
        for trade in inside:
            net[trade.sender] -= trade.grams
            net[trade.receiver] += trade.grams
            total += trade.grams
        worst = max(abs(v) for v in net.values())
        tolerance = _exact(rule["net_tolerance"])
        # |net| ≤ tolerance × total / count, in integers
        if worst * len(inside) * tolerance.denominator > tolerance.numerator * total:
            return
        mean = total / len(inside)
        label = {3_600: "1 小时", 86_400: "1 天", 604_800: "7 天"}.get(window, f"{window} 秒")
        self._alert(
            "wash_loop", t.time, t.block, t.log, t.tx, sorted(members), [trade.ref for trade in inside],
            self._deal_ids(inside),
            f"{len(members)} 个账户在 {label} 内以批次 {t.batch} 循环交易 {len(inside)} 笔，各自净头寸不超过平均"
            f"成交量的 {rule['net_tolerance']:.0%}：疑似对倒。",
            f"{len(members)} accounts traded batch {t.batch} {len(inside)} times in a loop within {window // 3600} h,"
            f" each one's net position within {rule['net_tolerance']:.0%} of the mean transfer size: a wash loop.",
            {"batch_id": t.batch, "window_s": window, "trades": len(inside), "max_net_grams": worst,
             "mean_grams": mean},
        )  # fmt: skip

    def _same_day_resale(self, t: Trade, arrival: Trade) -> None:
        day = datetime.fromtimestamp(t.time, self.zone).date()
        self._alert(
            "same_day_resale", t.time, t.block, t.log, t.tx, [arrival.sender, t.sender, t.receiver],
            [arrival.ref, t.ref], self._deal_ids([arrival, t]),
            f"{t.sender[:10]} 于 {day} 买入批次 {t.batch} 后当日转出 {t.grams / GRAMS_PER_TONNE:.2f} 吨。",
            f"{t.sender[:10]} received batch {t.batch} and passed {t.grams / GRAMS_PER_TONNE:.2f} t on the same day"
            f" ({day}).",
            {"day": str(day), "batch_id": t.batch},
        )  # fmt: skip

    def _price_band(self, t: Trade, group: tuple[int, str] | None) -> bool | None:
        """A priced deal against the volume-weighted price of the earlier priced deals of its group in the
        window: True when outside the band (alerted), False inside, None without a reference (noted)."""
        rule = self.rules["price_band"]
        if group is None:
            return None
        window = self.prices[group]
        sums = self.price_sums[group]
        limit = t.time - self.price_window
        while window and window[0].time < limit:  # the window, pruned when it is read
            old = window.popleft()
            sums[0] -= old.price * old.grams
            sums[1] -= old.grams
        weighted, grams = sums
        if len(window) < self.min_reference_deals or grams == 0:
            self.notes.append(
                ("price_band", t.block, t.log, t.tx, t.deal_id,
                 f"no reference price for vintage {group[0]} {group[1] or '-'}: {len(window)} deal(s) in the window")
            )  # fmt: skip
            return None
        block = t.grams >= self.block_grams
        numerator, denominator = self.block_band if block else self.band
        price = t.price
        # |price − weighted / grams| > band × weighted / grams, in integers
        if abs(price * grams - weighted) * denominator <= numerator * weighted:
            return False
        band = rule["block_band"] if block else rule["band"]
        reference = weighted / grams
        off = (price - reference) / reference
        self._alert(
            "price_band", t.time, t.block, t.log, t.tx, [t.sender, t.receiver], [t.ref], self._deal_ids([t]),
            f"成交价 {price / 100:.2f} 元/吨 偏离同年份同类型近 30 天成交量加权均价 {reference / 100:.2f} 元/吨"
            f" {off:+.1%}（允许 ±{band:.0%}{'，大宗交易' if block else ''}）。",
            f"Price {price / 100:.2f} CNY/t is {off:+.1%} from the 30-day volume-weighted {reference / 100:.2f} CNY/t"
            f" of vintage {group[0]} {group[1] or ''} (band ±{band:.0%}{', block deal' if block else ''}).",
            {"price_fen": price, "reference_fen": round(reference), "band": band, "block": block,
             "vintage": group[0], "kind": group[1]},
        )  # fmt: skip
        return True

    def _related_parties(self, t: Trade, organisation: int, off_band: bool | None, returned: bool) -> None:
        """A priced deal inside one organisation: a disclosure (medium), high when its price is off the
        band or the units come back."""
        price = t.price / 100
        why_zh = "，且价格偏离市场区间" if off_band else ""
        why_zh += "，且碳汇回到原持有人" if returned else ""
        why_en = ", off the market's price band" if off_band else ""
        why_en += ", and the units came back" if returned else ""
        self._alert(
            "related_parties", t.time, t.block, t.log, t.tx, [t.sender, t.receiver], [t.ref], self._deal_ids([t]),
            f"买卖双方同属组织 {organisation}，以 {price:.2f} 元/吨 成交（关联交易）{why_zh}。",
            f"Both sides belong to organisation {organisation}; the deal carries a price of {price:.2f} CNY/t"
            f" (related parties){why_en}.",
            {"organisation": organisation, "off_band": bool(off_band), "returned": returned},
            severity="high" if off_band or returned else None,
        )  # fmt: skip

    def _intra_group(self, t: Trade, organisation: int) -> None:
        """Units moved at price 0 inside one organisation: disclosed, never a price."""
        self._alert(
            "intra_group_transfer", t.time, t.block, t.log, t.tx, [t.sender, t.receiver], [t.ref],
            self._deal_ids([t]),
            f"组织 {organisation} 在其账户之间无价划转批次 {t.batch} 的 {t.grams / GRAMS_PER_TONNE:.2f} 吨"
            "（集团内划转）。",
            f"Organisation {organisation} moved {t.grams / GRAMS_PER_TONNE:.2f} t of batch {t.batch} between its own"
            " accounts at no price (an intra-group transfer).",
            {"organisation": organisation, "batch_id": t.batch, "grams": t.grams},
        )  # fmt: skip

    def _disguised_financing(self, t: Trade) -> None:
        rule = self.rules["disguised_financing"]
        price, paid = t.price, t.receipt
        due = deal_total_fen(price, t.grams) if paid is not None else 0
        if paid is not None and abs(paid - due) > rule["receipt_tolerance_fen"]:
            self._alert(
                "disguised_financing", t.time, t.block, t.log, t.tx, [t.sender, t.receiver], [t.ref],
                self._deal_ids([t]),
                f"托管行回单金额 {paid / 100:.2f} 元与价格×数量 {due / 100:.2f} 元不符。",
                f"The custodian's receipt says {paid / 100:.2f} CNY but price × quantity is {due / 100:.2f} CNY.",
                {"kind": "receipt_mismatch", "receipt_fen": paid, "due_fen": due},
                severity="high" if abs(paid - due) >= rule["receipt_high_fen"] else "medium",
            )  # fmt: skip
        if price == 0:
            return
        # t: X→Y. Did Y sell this batch to X within the window at a lower price? Then Y buys it back.
        earlier_deals = self.deals_between.get((t.batch, t.receiver, t.sender))
        if not earlier_deals:
            return
        since = t.time - rule["window_s"]
        for earlier in self._recent(earlier_deals, since):
            if earlier.price < price:
                days = (t.time - earlier.time) / DAY
                rate = price / earlier.price - 1
                self._alert(
                    "disguised_financing", t.time, t.block, t.log, t.tx, [t.receiver, t.sender],
                    [earlier.ref, t.ref], self._deal_ids([earlier, t]),
                    f"{t.receiver[:10]} 在 {days:.0f} 天后以高 {rate:.1%} 的价格从同一买方回购批次 {t.batch}："
                    "疑似变相融资。",
                    f"{t.receiver[:10]} bought batch {t.batch} back from the same buyer {days:.0f} days later at a"
                    f" {rate:.1%} higher price: a loan in disguise.",
                    {"kind": "buy_back", "days": round(days, 1), "premium": round(rate, 4)},
                )  # fmt: skip
                return

    def _velocity(self, t: Trade, address: str, account: Account, day: int) -> None:
        """The account's last 7 days against the median of its own 7-day sums, one per day since its first
        transfer, over the 90 days before (`day` is t's day counted from the first transfer)."""
        rule = self.rules["velocity"]
        assert account.first is not None
        week = (t.time - account.first) // self.week_s
        if account.velocity_week == week:
            return  # this week's alert is raised
        young = t.time - account.first < self.velocity_warm_up
        if young:
            if account.noted_week == week:
                return  # noted this week
        else:
            if account.bars_day != day:
                self._velocity_bars(account, day, rule["multiple"])
            if account.week_count <= account.count_bar and account.week_grams <= account.grams_bar:
                return  # not hot before pruning, so not after
        self._prune_week(account, t.time)
        count, grams = account.week_count, account.week_grams
        if young:
            # One note per account and week (its alert's identity), not one per transfer of a busy week.
            if account.noted_week != week and (count >= rule["floor_count"] or grams >= rule["floor_grams"]):
                account.noted_week = week
                self.notes.append(
                    ("velocity", t.block, t.log, t.tx, t.deal_id or 0,
                     f"{address}: {count} transfer(s), {grams} g in 7 days not judged: its first transfer is less"
                     f" than {self.velocity_warm_up // DAY} days old")
                )  # fmt: skip
            return
        hot_count = count >= rule["floor_count"] and count > account.count_bar
        hot_volume = grams >= rule["floor_grams"] and grams > account.grams_bar
        if not (hot_count or hot_volume):
            return
        count_median, volume_median = account.count_median, account.volume_median
        key = alert_key("velocity", f"{address}|{week}")
        if key in self.keys:
            account.velocity_week = week
            return
        self._alert(
            "velocity", t.time, t.block, t.log, t.tx, [address], [t.ref], self._deal_ids([t]),
            f"{address[:10]} 近 7 天成交 {count} 笔、{grams / GRAMS_PER_TONNE:.1f} 吨，超过其此前 90 天每日 7 天合计的"
            f"中位数（{count_median:g} 笔、{volume_median / GRAMS_PER_TONNE:.1f} 吨）的 {rule['multiple']:g} 倍。",
            f"{address[:10]} made {count} transfers, {grams / GRAMS_PER_TONNE:.1f} t in 7 days, over"
            f" {rule['multiple']:g}× the median of its own daily 7-day sums in the 90 days before ({count_median:g},"
            f" {volume_median / GRAMS_PER_TONNE:.1f} t).",
            {"count": count, "grams": grams, "median_count": count_median, "median_grams": volume_median},
            dedup=f"{address}|{week}",
        )  # fmt: skip
        account.velocity_week = week

    def _velocity_bars(self, account: Account, day: int, multiple: float) -> None:
        """The medians of the samples k of max(7, day − 89) ≤ k ≤ day − 7, each the sum of days k − 7 … k − 1,
        and the figures above which the account is hot. The samples are kept from one call to the next (sorted
        as well as in day order): each day adds the new ones and drops those that left the 90 days."""
        span = self.week_days
        low, high = max(span, day - self.history_days + 1), day - span
        samples, counts, volumes = account.samples, account.sample_counts, account.sample_grams
        while samples and samples[0][0] < low:
            _, count, volume = samples.popleft()
            del counts[bisect_left(counts, count)]
            del volumes[bisect_left(volumes, volume)]
        start = max(account.sampled_to + 1, low)
        if start <= high:
            days = account.days
            if start == account.sampled_to + 1:
                running = account.next_sample  # the packed sums of sample `start`, kept by the last call
            else:
                running = sum(days.get(d, 0) for d in range(start - span, start))
            for k in range(start, high + 1):
                count, volume = running & COUNT_MASK, running >> COUNT_BITS
                samples.append((k, count, volume))
                insort(counts, count)
                insort(volumes, volume)
                running += days.get(k, 0) - days.get(k - span, 0)
            account.sampled_to = high
            account.next_sample = running  # days high − 6 … high: all past, as every sample's days
        account.bars_day = day
        account.count_median = count_median = _median_of_sorted(counts) if counts else 0.0
        account.volume_median = volume_median = _median_of_sorted(volumes) if volumes else 0.0
        # A median of 0 is no baseline: that figure is not judged (an account that trades less than weekly).
        account.count_bar = multiple * count_median if count_median > 0 else math.inf
        account.grams_bar = multiple * volume_median if volume_median > 0 else math.inf

    def _concentration(self, t: Trade, address: str, other: str, account: Account) -> None:
        """Judged for the counterparty of the trade at hand, over the account's 30-day window."""
        rule = self.conc
        self._prune_pairs(account, t.time)
        pair = account.pair_sums[other]
        count, grams = pair & COUNT_MASK, pair >> COUNT_BITS
        total = account.pair_total
        share = self.conc_share
        if count < rule["min_deals"] or total < rule["min_grams"]:
            return
        if grams * share.denominator < share.numerator * total:
            return
        self._alert(
            "counterparty_concentration", t.time, t.block, t.log, t.tx, [address, other], [t.ref],
            self._deal_ids([t]),
            f"{address[:10]} 近 30 天 {grams / total:.0%} 的成交量（{count} 笔）集中于同一对手方 {other[:10]}。",
            f"{grams / total:.0%} of {address[:10]}'s 30-day volume ({count} deals) is with one counterparty,"
            f" {other[:10]}.",
            {"share": round(grams / total, 4), "deals": count},
            dedup=f"{address}|{other}|{t.time // rule['window_s']}",
        )  # fmt: skip

    def _new_account(self, t: Trade, source: Account, target: Account) -> None:
        rule = self.rules["new_account_volume"]
        assert self.ledger_first is not None
        if t.time < self.ledger_first + self.new_warm_up:
            return  # the ledger's first 30 days: no population to compare with yet
        day = self.volume_day  # t's Asia/Shanghai day: _remember rolled the days to it
        if day != self.percentile_day:  # month_volume only changes when the day rolls: once a day is enough
            self.percentile_day = day
            self.volume_percentile = self._percentile(rule)
        if self.volume_percentile is None:
            return
        for account, state in ((t.sender, source), (t.receiver, target)):
            if not state.young(t.time, self.young_s):
                continue
            volume = self.month_volume.get(account, 0) + self.day_volume[day].get(account, 0)
            if volume <= self.volume_percentile:
                continue
            self._alert(
                "new_account_volume", t.time, t.block, t.log, t.tx, [account], [t.ref], self._deal_ids([t]),
                f"开户不足 30 天的账户 {account[:10]} 成交 {volume / GRAMS_PER_TONNE:.1f} 吨，超过全部账户此前 30 天"
                f"成交量的 {rule['percentile']:.0%} 分位（{self.volume_percentile / GRAMS_PER_TONNE:.1f} 吨）。",
                f"{account[:10]}, registered less than 30 days ago, moved {volume / GRAMS_PER_TONNE:.1f} t, above the"
                f" {rule['percentile']:.0%} percentile of all accounts' volume over the 30 days before today"
                f" ({self.volume_percentile / GRAMS_PER_TONNE:.1f} t).",
                {"grams": volume, "percentile_grams": self.volume_percentile},
                dedup=account,
            )  # fmt: skip

    def _roll_days(self, day: int) -> None:
        """Keeps month_volume = each account's volume over the 30 Asia/Shanghai days before `day`, moving a
        day at a time: only the accounts active on the day that enters or leaves the window change."""
        if self.volume_day < 0:
            self.volume_day = day
        span = self.rules["new_account_volume"]["window_s"] // DAY
        while self.volume_day < day:
            entering = self.day_volume.get(self.volume_day, {})
            for account, grams in entering.items():
                self.month_volume[account] += grams
            leaving = self.day_volume.pop(self.volume_day - span, {})
            for account, grams in leaving.items():
                self.month_volume[account] -= grams
                if self.month_volume[account] == 0:
                    del self.month_volume[account]
            self.volume_day += 1

    def _percentile(self, rule: dict[str, Any]) -> float | None:
        """The percentile of every active account's volume over the 30 days before today: it changes once a
        day and depends on the events alone."""
        volumes = sorted(v for v in self.month_volume.values() if v > 0)
        if len(volumes) < rule["min_accounts"]:
            return None
        position = rule["percentile"] * (len(volumes) - 1)
        low = int(position)
        high = min(low + 1, len(volumes) - 1)
        return volumes[low] + (volumes[high] - volumes[low]) * (position - low)

    def _holding_check(self, account: str, batch: int, quantity: int, held: int, when: int,
                       refs: list[dict[str, Any]]) -> None:  # fmt: skip
        rule = self.rules["holding_concentration"]
        share = held / quantity
        ref = refs[-1]
        group = self.batch_group[batch]
        self._alert(
            "holding_concentration", when, ref["block"], ref["log"], ref["tx"], [account], refs, [],
            f"{account[:10]} 持有批次 {batch}（{group[0]} 年份）签发量的 {share:.1%}，"
            f"已达上限 {rule['cap']:.0%} 的一半（举牌）。",
            f"{account[:10]} holds {share:.1%} of batch {batch}'s issued quantity (vintage {group[0]}), half of the"
            f" {rule['cap']:.0%} cap or more.",
            {"batch_id": batch, "vintage": group[0], "share": round(share, 4), "grams": held, "quantity": quantity},
            dedup=f"{account}|{batch}",
        )  # fmt: skip

    # ---------------------------------------------------------------------------------------------
    @staticmethod
    def _deal_ids(trades: Iterable[Trade]) -> list[int]:
        return sorted({t.deal_id for t in trades if t.deal_id is not None})

    def _alert(
        self,
        rule: str,
        when: int,
        block: int,
        log: int,
        tx: str,
        participants: list[str],
        evidence: list[dict[str, Any]],
        deals: list[int],
        zh: str,
        en: str,
        details: dict[str, Any],
        *,
        severity: str | None = None,
        dedup: str | None = None,
    ) -> None:
        key = alert_key(rule, dedup if dedup is not None else f"{block}:{log}")
        if key in self.keys:
            return
        self.keys.add(key)
        self.alerts.append(
            (
                key, rule, severity or self.rules[rule]["severity"], block, log, tx, when,
                orjson.dumps(sorted(set(participants))).decode(), orjson.dumps(evidence).decode(),
                orjson.dumps(deals).decode(), zh, en, orjson.dumps(details).decode(),
            )
        )  # fmt: skip


def alert_key(rule: str, identity: str) -> str:
    """An alert's stable key: the rule and what makes the finding unique (an event, an account and week...)."""
    return hashlib.sha256(f"{rule}|{identity}".encode()).hexdigest()[:32]


def report_identity(evidence_root: str) -> str:
    """What makes an ecological loss unique: the monitoring report (its evidence root) that shows it."""
    return f"report:{evidence_root.lower()}"


def loss_explanation(project_id: int, loss_grams: int) -> tuple[str, str]:
    tonnes = loss_grams / GRAMS_PER_TONNE
    return (
        f"项目 {project_id} 的林木碳储量较上期减少 {tonnes:.2f} 吨 CO2e（死亡、移除或火灾），"
        "建议从缓冲池记录等量冲销。",
        f"Project {project_id}'s tree carbon stock fell by {tonnes:.2f} t CO2e against the previous period (dead or"
        " removed trees, fire); a buffer reversal of that amount is proposed.",
    )


def not_backed_explanation(
    batch: int, project: int, issued: int, computed: int | None, report_project: int | None
) -> tuple[str, str]:
    issued_t = issued / GRAMS_PER_TONNE
    if computed is None:
        return (
            f"批次 {batch}（项目 {project}，本节点所属组织）签发 {issued_t:.6f} 吨，但本节点没有其证据根对应的"
            "监测报告与核算结果：该批次未经本节点核算即上链签发。",
            f"Batch {batch} (project {project}, of this node's organisation) was issued for {issued_t:.6f} t, but"
            " this node holds no monitoring report or computation for its evidence root: it was issued without"
            " this node.",
        )
    if report_project is not None and report_project != project:
        return (
            f"批次 {batch} 签发于项目 {project}，但其证据根对应的监测报告属于项目 {report_project}。",
            f"Batch {batch} was issued for project {project}, but the monitoring report behind its evidence root"
            f" is project {report_project}'s.",
        )
    computed_t = computed / GRAMS_PER_TONNE
    return (
        f"批次 {batch}（项目 {project}）签发 {issued_t:.6f} 吨，而本节点依监测数据核算的可签发量为"
        f" {computed_t:.6f} 吨：签发量与核算结果不符。",
        f"Batch {batch} (project {project}) was issued for {issued_t:.6f} t, but the monitoring data on this node"
        f" computes {computed_t:.6f} t: the issued figure is not the computed one.",
    )


# The order of an alert row's values, as _alert builds them.
ALERT_COLUMNS = ("key", "rule", "severity", "block_number", "log_index", "tx_hash", "block_time", "participants",
                 "evidence", "deals", "explanation_zh", "explanation_en", "details")  # fmt: skip


def insert_alerts(db: sqlite3.Connection, engine: Rules) -> None:
    alerts, notes = engine.take()
    if alerts:
        db.executemany(
            f"INSERT INTO alert ({', '.join(ALERT_COLUMNS)}) VALUES ({', '.join('?' * len(ALERT_COLUMNS))})"
            " ON CONFLICT (key) DO NOTHING",
            alerts,
        )
    if notes:
        db.executemany(
            "INSERT INTO risk_note (rule, block_number, log_index, tx_hash, deal_id, note) VALUES (?,?,?,?,?,?)",
            notes,
        )
