"""A plain reference implementation of the risk rules, written from their definitions (docs/supervision.md,
"Definitions" and "The rules") and the thresholds of node/risk/rules.toml, apart from the engine
(node/risk/engine.py): nothing of the engine is imported or reused.

It keeps the whole history in plain lists and dicts (every transfer, per account, per batch and sender,
per pair) and answers each rule's question by looking the history up again for every event: slow but
straightforward. Indexes (sorted times with prefix sums, bisect) only make the look-ups cheaper; what is
counted is what the definition says.

`Reference(facts).run(stream)` returns the alerts as `Alert` rows; `identity(...)` gives what the
benchmark compares with the engine's alerts.
"""

import bisect
import statistics
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from registry.units import vintage_of

RULES_TOML = Path(__file__).resolve().parent.parent / "node" / "risk" / "rules.toml"
ZERO_REF = "0x" + "00" * 32
DAY = 86_400


def load_thresholds(path: Path = RULES_TOML) -> dict[str, dict[str, Any]]:
    with path.open("rb") as handle:
        return tomllib.load(handle)


@dataclass(frozen=True)
class Alert:
    rule: str
    severity: str
    block: int
    log: int
    time: int
    participants: tuple[str, ...]  # sorted, distinct
    why: str  # for debugging output only


# Rules whose definition names the participants; for the others (issuance-side rules) the alert is compared
# on its event alone.
PARTICIPANTS_DEFINED = {
    "round_trip", "wash_loop", "same_day_resale", "price_band", "velocity", "counterparty_concentration",
    "new_account_volume", "related_parties", "intra_group_transfer", "disguised_financing",
    "holding_concentration",
}  # fmt: skip


def identity(rule: str, severity: str, block: int, log: int, participants: tuple[str, ...]) -> tuple[Any, ...]:
    """What is compared between engine and reference: the rule, the event that raised the alert (the first
    event meeting the rule for the identity the definition states), its severity and its participants."""
    people = tuple(sorted(set(participants))) if rule in PARTICIPANTS_DEFINED else ()
    return (rule, block, log, severity, people)


@dataclass
class Transfer:
    index: int  # position among all transfers, chain order
    time: int
    block: int
    log: int
    batch: int
    sender: str
    receiver: str
    grams: int
    price: int | None  # None: no deal (dealRef zero or unknown to the node)
    receipt: int | None


class Reference:
    def __init__(self, facts: Any, thresholds: dict[str, dict[str, Any]] | None = None) -> None:
        self.facts = facts
        self.r = thresholds or load_thresholds()
        self.zone = ZoneInfo(self.r["same_day_resale"]["timezone"])
        self.alerts: list[Alert] = []
        self.days: dict[int, int] = {}
        self.raised: set[tuple[Any, ...]] = set()  # (rule, identity) already raised
        # what the ledger says so far
        self.organisation: dict[str, int] = {}
        self.registered: dict[str, int] = {}
        self.buffers: set[str] = set()
        self.batches: dict[int, dict[str, Any]] = {}  # batch -> owner, quantity, group, project, stock
        self.project_batches: dict[int, list[int]] = defaultdict(list)
        self.balance: dict[tuple[int, str], int] = defaultdict(int)
        self.transfers: list[Transfer] = []
        self.first_transfer: dict[str, int] = {}
        self.ledger_first: int | None = None
        # look-up lists, each in chain order
        self.sent_of_batch: dict[tuple[int, str], list[Transfer]] = defaultdict(list)  # (batch, sender)
        self.received_of_batch: dict[tuple[int, str], list[Transfer]] = defaultdict(list)  # (batch, receiver)
        self.priced_between: dict[tuple[int, str, str], list[Transfer]] = defaultdict(list)  # (batch, from, to)
        self.group_deals: dict[tuple[int, str], list[Transfer]] = defaultdict(list)  # priced deals per group
        self.group_times: dict[tuple[int, str], list[int]] = defaultdict(list)
        self.group_sums: dict[tuple[int, str], list[tuple[int, int]]] = defaultdict(lambda: [(0, 0)])  # prefix
        self.account_times: dict[str, list[int]] = defaultdict(list)  # every transfer, sent or received
        self.account_grams: dict[str, list[int]] = defaultdict(lambda: [0])  # prefix sums of grams
        self.pair_times: dict[tuple[str, str], list[int]] = defaultdict(list)  # (account, other)
        self.pair_grams: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0])
        self.day_volume: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))  # Shanghai day
        self.population_bar: dict[int, float | None] = {}
        self.velocity_samples: dict[tuple[str, int], tuple[float, float]] = {}  # (account, c) -> medians

    # ---------------------------------------------------------------------------------------------
    def run(self, stream: list[Any]) -> list[Alert]:
        for event in stream:
            log = event.log
            self.event(event.name, event.args, log.block_number, log.log_index, log.block_time)
        return self.alerts

    def raise_alert(self, rule: str, key: Any, severity: str, block: int, log: int, time: int,
                    participants: list[str], why: str) -> None:  # fmt: skip
        if (rule, key) in self.raised:
            return
        self.raised.add((rule, key))
        self.alerts.append(Alert(rule, severity, block, log, time, tuple(sorted(set(participants))), why))

    def shanghai_day(self, time: int) -> int:
        """The Asia/Shanghai calendar day of a time (a day number), remembered per time."""
        day = self.days.get(time)
        if day is None:
            day = self.days[time] = datetime.fromtimestamp(time, self.zone).date().toordinal()
        return day

    def event(self, name: str, args: dict[str, Any], block: int, log: int, time: int) -> None:
        if name == "ParticipantRegistered":
            self.organisation[args["account"]] = args["organisation"]
            self.registered[args["account"]] = time
        elif name == "BufferConfigured":
            self.buffers.add(args["account"])
        elif name == "BatchIssued":
            self.issued(args, block, log, time)
        elif name == "CertificateRetired":
            self.balance[(int(args["batchId"]), args["holder"])] -= args["amount"]
        elif name == "ReversalRecorded":
            self.balance[(int(args["batchId"]), args["bufferAccount"])] -= args["amount"]
        elif name == "CertificateTransferred":
            self.transferred(args, block, log, time)

    # issuance ------------------------------------------------------------------------------------
    def issued(self, a: dict[str, Any], block: int, log: int, time: int) -> None:
        batch, project, root = int(a["batchId"]), a["projectId"], a["evidenceRoot"]
        self.buffers.add(a["bufferAccount"])
        self.balance[(batch, a["owner"])] += a["quantity"] - a["bufferAmount"]
        self.balance[(batch, a["bufferAccount"])] += a["bufferAmount"]
        stock = self.facts.tree_stock(root)
        group = (vintage_of(a["periodEnd"]), self.facts.project_kind(project))
        previous = [b for b in self.project_batches[project] if self.batches[b]["stock"] is not None]
        self.batches[batch] = {"owner": a["owner"], "quantity": a["quantity"], "group": group, "project": project,
                               "stock": stock}  # fmt: skip
        self.project_batches[project].append(batch)
        # ecological_loss: the stock at the end of the period at least 1 t below the end of the project's
        # previous batch (the latest earlier one whose monitoring data the node holds), or below its own start
        if stock is not None:
            before = self.batches[previous[-1]]["stock"][1] if previous else stock[0]
            loss = before - stock[1]
            if loss >= self.r["ecological_loss"]["min_loss_grams"]:
                self.raise_alert("ecological_loss", ("report", root.lower()), "high", block, log, time, [a["owner"]],
                                 f"project {project} stock {before} -> {stock[1]}")  # fmt: skip
        # issuance_not_backed
        backing = self.facts.backing(root)
        if backing is None:
            node = self.facts.organisation()
            if node is not None and self.organisation.get(a["owner"]) == node:
                self.raise_alert("issuance_not_backed", batch, "high", block, log, time, [a["owner"]],
                                 "no report on the node for its own organisation")  # fmt: skip
        elif backing.creditable_grams != a["quantity"] or backing.project_id != project:
            self.raise_alert("issuance_not_backed", batch, "high", block, log, time, [a["owner"]],
                             f"issued {a['quantity']} computed {backing.creditable_grams}")  # fmt: skip

    # transfers -----------------------------------------------------------------------------------
    def transferred(self, a: dict[str, Any], block: int, log: int, time: int) -> None:
        ref = a.get("dealRef")
        deal = self.facts.deal(ref) if ref and ref != ZERO_REF else None
        t = Transfer(len(self.transfers), time, block, log, int(a["batchId"]), a["from"], a["to"], a["amount"],
                     deal.price_fen_per_tonne if deal is not None else None,
                     deal.receipt_amount_fen if deal is not None else None)  # fmt: skip
        # the judged event is part of the history it is judged against (windows end at it, inclusive)
        self.record(t)
        self.round_trip(t)
        self.wash_loop(t)
        self.same_day_resale(t)
        self.price_band(t)
        for account in (t.sender, t.receiver):
            self.velocity(t, account)
        for account, other in ((t.sender, t.receiver), (t.receiver, t.sender)):
            self.concentration(t, account, other)
        for account in (t.sender, t.receiver):
            self.new_account(t, account)
        self.related(t)
        self.disguised_financing(t)
        self.holding(t)
        # after judging: what a later event sees as "earlier"
        self.received_of_batch[(t.batch, t.receiver)].append(t)
        if t.price is not None and t.price > 0:
            self.priced_between[(t.batch, t.sender, t.receiver)].append(t)
            group = self.batches.get(t.batch, {}).get("group")
            if group is not None:
                self.group_deals[group].append(t)
                self.group_times[group].append(t.time)
                weighted, grams = self.group_sums[group][-1]
                self.group_sums[group].append((weighted + t.price * t.grams, grams + t.grams))

    def record(self, t: Transfer) -> None:
        self.transfers.append(t)
        if self.ledger_first is None:
            self.ledger_first = t.time
        self.sent_of_batch[(t.batch, t.sender)].append(t)
        self.balance[(t.batch, t.sender)] -= t.grams
        self.balance[(t.batch, t.receiver)] += t.grams
        day = self.shanghai_day(t.time)
        for account, other in ((t.sender, t.receiver), (t.receiver, t.sender)):
            self.first_transfer.setdefault(account, t.time)
            self.account_times[account].append(t.time)
            grams = self.account_grams[account]
            grams.append(grams[-1] + t.grams)
            self.pair_times[(account, other)].append(t.time)
            pair = self.pair_grams[(account, other)]
            pair.append(pair[-1] + t.grams)
            self.day_volume[day][account] += t.grams

    # round trip and wash loop --------------------------------------------------------------------
    def chain(self, t: Transfer, since: int, longest: int) -> list[Transfer] | None:
        """Breadth first: a chain of at most `longest` transfers of t's batch from t's receiver to t's
        sender, each after the previous in chain order, each at time ≥ since, all before t; fewest
        transfers first, at each account its transfers scanned in chain order, the first reaching the
        sender ends the search."""
        frontier: list[tuple[str, int, list[Transfer]]] = [(t.receiver, -1, [])]
        for _ in range(longest):
            following = []
            for account, after, path in frontier:
                for sent in self.sent_of_batch.get((t.batch, account), []):
                    if sent.index <= after or sent.index >= t.index or sent.time < since:
                        continue
                    if sent.receiver == t.sender:
                        return [*path, sent]
                    following.append((sent.receiver, sent.index, [*path, sent]))
            frontier = following
            if not frontier:
                return None
        return None

    def may_close(self, t: Transfer, since: int) -> bool:
        """A chain ends with a transfer of the batch to t's sender at time ≥ since: without one, none."""
        arrivals = self.received_of_batch.get((t.batch, t.sender))
        return bool(arrivals) and arrivals[-1].time >= since

    def round_trip_chain(self, t: Transfer) -> list[Transfer] | None:
        rule = self.r["round_trip"]
        since = t.time - rule["window_s"]
        if not self.may_close(t, since):
            return None
        return self.chain(t, since, rule["max_cycle_length"] - 1)

    def round_trip(self, t: Transfer) -> None:
        rule = self.r["round_trip"]
        found = self.round_trip_chain(t)
        if found is None:
            return
        severity = "high" if t.time - found[0].time <= rule["high_within_s"] else rule["severity"]
        accounts = [t.sender, t.receiver, *[s.receiver for s in found]]
        self.raise_alert("round_trip", (t.block, t.log), severity, t.block, t.log, t.time, accounts,
                         f"chain of {len(found)} back to {t.sender[:10]}")  # fmt: skip

    def wash_loop(self, t: Transfer) -> None:
        rule = self.r["wash_loop"]
        windows = sorted(rule["windows_s"])
        if not self.may_close(t, t.time - windows[-1]):
            return
        for window in windows:
            found = self.chain(t, t.time - window, rule["max_cycle_length"] - 1)
            if found is not None:
                break
        else:
            return
        members = {t.sender, t.receiver, *[s.receiver for s in found]}
        netted = [
            s
            for m in members
            for s in self.sent_of_batch.get((t.batch, m), [])
            if s.receiver in members and s.time >= t.time - window and s.index <= t.index
        ]
        net: dict[str, int] = defaultdict(int)
        for s in netted:
            net[s.sender] -= s.grams
            net[s.receiver] += s.grams
        mean = Fraction(sum(s.grams for s in netted), len(netted))
        if all(abs(v) <= Fraction(str(rule["net_tolerance"])) * mean for v in net.values()):
            self.raise_alert("wash_loop", (t.block, t.log), rule["severity"], t.block, t.log, t.time, list(members),
                             f"{len(netted)} transfers netted in {window} s")  # fmt: skip

    # same-day resale -----------------------------------------------------------------------------
    def same_day_resale(self, t: Transfer) -> None:
        rule = self.r["same_day_resale"]
        if t.grams < rule["min_grams"]:
            return
        arrivals = self.received_of_batch.get((t.batch, t.sender))
        if not arrivals:
            return
        latest = arrivals[-1]
        if self.shanghai_day(latest.time) == self.shanghai_day(t.time):
            self.raise_alert("same_day_resale", (t.block, t.log), rule["severity"], t.block, t.log, t.time,
                             [latest.sender, t.sender, t.receiver], "received and sent the same day")  # fmt: skip

    # prices --------------------------------------------------------------------------------------
    def reference_price(self, t: Transfer) -> Fraction | None:
        """The volume-weighted price of the group's earlier priced deals in [t − 30 d, t], with at least 3."""
        rule = self.r["price_band"]
        group = self.batches.get(t.batch, {}).get("group")
        if group is None:
            return None
        times = self.group_times[group]
        first = bisect.bisect_left(times, t.time - rule["window_s"])
        if len(times) - first < rule["min_reference_deals"]:
            return None
        sums = self.group_sums[group]
        weighted = sums[-1][0] - sums[first][0]
        grams = sums[-1][1] - sums[first][1]
        return Fraction(weighted, grams) if grams else None

    def off_band(self, t: Transfer, reference: Fraction) -> bool:
        rule = self.r["price_band"]
        band = rule["block_band"] if t.grams >= rule["block_grams"] else rule["band"]
        assert t.price is not None
        return abs(t.price - reference) > Fraction(str(band)) * reference

    def price_band(self, t: Transfer) -> None:
        if t.price is None or t.price == 0:
            return
        reference = self.reference_price(t)
        if reference is not None and self.off_band(t, reference):
            why = f"price {t.price} reference {float(reference):.1f}"
            self.raise_alert("price_band", (t.block, t.log), self.r["price_band"]["severity"], t.block, t.log,
                             t.time, [t.sender, t.receiver], why)  # fmt: skip

    # velocity ------------------------------------------------------------------------------------
    def in_window(self, account: str, start: int, end: int, *, open_start: bool) -> tuple[int, int]:
        """Count and grams of the account's transfers so far with time in [start, end) (or (start, end])."""
        times, grams = self.account_times[account], self.account_grams[account]
        if open_start:
            low, high = bisect.bisect_right(times, start), bisect.bisect_right(times, end)
        else:
            low, high = bisect.bisect_left(times, start), bisect.bisect_left(times, end)
        return high - low, grams[high] - grams[low]

    def velocity(self, t: Transfer, account: str) -> None:
        rule = self.r["velocity"]
        week, first = rule["window_s"], self.first_transfer[account]
        count, grams = self.in_window(account, t.time - week, t.time, open_start=True)
        if count < rule["floor_count"] and grams < rule["floor_grams"]:
            return  # neither figure can alert
        if t.time - first < rule["warm_up_s"]:
            return  # no judgement (a risk_note)
        key = (account, (t.time - first) // week)
        if ("velocity", key) in self.raised:
            return
        c = (t.time - first) // DAY
        medians = self.velocity_samples.get((account, c))
        if medians is None:
            days_back = rule["history_s"] // DAY  # 90
            span = week // DAY  # 7
            samples = [
                self.in_window(account, first + (k - span) * DAY, first + k * DAY, open_start=False)
                for k in range(max(span, c - days_back + 1), c - span + 1)
            ]
            medians = (statistics.median([n for n, _ in samples]), statistics.median([g for _, g in samples]))
            self.velocity_samples[(account, c)] = medians
        multiple = rule["multiple"]
        # a median of 0 is no baseline: that figure is not judged
        hot = (count >= rule["floor_count"] and medians[0] > 0 and count > multiple * medians[0]) or (
            grams >= rule["floor_grams"] and medians[1] > 0 and grams > multiple * medians[1]
        )
        if hot:
            self.raise_alert("velocity", key, rule["severity"], t.block, t.log, t.time, [account],
                             f"{count} transfers {grams} g in 7 d; medians {medians}")  # fmt: skip

    # counterparty concentration ------------------------------------------------------------------
    def concentration(self, t: Transfer, account: str, other: str) -> None:
        rule = self.r["counterparty_concentration"]
        since = t.time - rule["window_s"]
        pair_times = self.pair_times[(account, other)]
        first_pair = bisect.bisect_left(pair_times, since)
        deals = len(pair_times) - first_pair
        if deals < rule["min_deals"]:
            return
        pair = self.pair_grams[(account, other)]
        with_other = pair[-1] - pair[first_pair]
        times, grams = self.account_times[account], self.account_grams[account]
        total = grams[-1] - grams[bisect.bisect_left(times, since)]
        if total < rule["min_grams"] or with_other < Fraction(str(rule["share"])) * total:
            return
        self.raise_alert("counterparty_concentration", (account, other, t.time // rule["window_s"]),
                         rule["severity"], t.block, t.log, t.time, [account, other],
                         f"{deals} transfers, {with_other}/{total} g with {other[:10]}")  # fmt: skip

    # new account, large volume -------------------------------------------------------------------
    def new_account(self, t: Transfer, account: str) -> None:
        rule = self.r["new_account_volume"]
        registered = self.registered.get(account)
        if registered is None or t.time - registered >= rule["age_s"]:
            return
        assert self.ledger_first is not None
        if t.time < self.ledger_first + rule["warm_up_s"]:
            return
        if ("new_account_volume", account) in self.raised:
            return
        today = self.shanghai_day(t.time)
        days = rule["window_s"] // DAY
        if today not in self.population_bar:
            volumes: dict[str, int] = defaultdict(int)
            for day in range(today - days, today):
                for who, grams in self.day_volume.get(day, {}).items():
                    volumes[who] += grams
            population = sorted(v for v in volumes.values() if v > 0)
            if len(population) < rule["min_accounts"]:
                self.population_bar[today] = None
            else:
                p = rule["percentile"] * (len(population) - 1)
                low = int(p)
                high = min(low + 1, len(population) - 1)
                self.population_bar[today] = population[low] + (population[high] - population[low]) * (p - low)
        bar = self.population_bar[today]
        if bar is None:
            return
        mine = sum(self.day_volume.get(day, {}).get(account, 0) for day in range(today - days, today + 1))
        if mine > bar:
            self.raise_alert("new_account_volume", account, rule["severity"], t.block, t.log, t.time, [account],
                             f"{mine} g over 31 days, bar {bar:.0f}")  # fmt: skip

    # organisations -------------------------------------------------------------------------------
    def related(self, t: Transfer) -> None:
        mine, theirs = self.organisation.get(t.sender), self.organisation.get(t.receiver)
        if mine is None or mine != theirs:
            return
        if t.price is None or t.price == 0:
            severity = self.r["intra_group_transfer"]["severity"]
            self.raise_alert("intra_group_transfer", (t.block, t.log), severity, t.block, t.log, t.time,
                             [t.sender, t.receiver], "price 0 inside one organisation")  # fmt: skip
            return
        reference = self.reference_price(t)
        off = reference is not None and self.off_band(t, reference)
        returning = self.round_trip_chain(t) is not None
        severity = "high" if off or returning else self.r["related_parties"]["severity"]
        why = f"organisation {mine} off band {off} returning {returning}"
        self.raise_alert("related_parties", (t.block, t.log), severity, t.block, t.log, t.time,
                         [t.sender, t.receiver], why)  # fmt: skip

    # disguised financing -------------------------------------------------------------------------
    def disguised_financing(self, t: Transfer) -> None:
        rule = self.r["disguised_financing"]
        if t.price is None or t.price == 0:
            return
        if t.receipt is not None:
            total = (t.price * t.grams + 500_000) // 1_000_000  # price × grams / 1,000,000, half up
            off = abs(t.receipt - total)
            if off > rule["receipt_tolerance_fen"]:
                severity = "high" if off >= rule["receipt_high_fen"] else "medium"
                self.raise_alert("disguised_financing", (t.block, t.log), severity, t.block, t.log, t.time,
                                 [t.sender, t.receiver], f"receipt {t.receipt} total {total}")  # fmt: skip
                return
        for earlier in self.priced_between.get((t.batch, t.receiver, t.sender), []):
            if earlier.time >= t.time - rule["window_s"] and earlier.price is not None and earlier.price < t.price:
                self.raise_alert("disguised_financing", (t.block, t.log), "high", t.block, t.log, t.time,
                                 [t.sender, t.receiver], f"buy-back at {t.price} after {earlier.price}")  # fmt: skip
                return

    # holding concentration -----------------------------------------------------------------------
    def holding(self, t: Transfer) -> None:
        rule = self.r["holding_concentration"]
        batch = self.batches.get(t.batch)
        if batch is None or t.receiver == batch["owner"] or t.receiver in self.buffers:
            return
        held = self.balance[(t.batch, t.receiver)]
        if held >= Fraction(str(rule["cap"])) * Fraction(str(rule["report_at"])) * batch["quantity"]:
            self.raise_alert("holding_concentration", (t.receiver, t.batch), rule["severity"], t.block, t.log,
                             t.time, [t.receiver], f"{held} of {batch['quantity']} g")  # fmt: skip
