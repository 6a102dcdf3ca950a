"""The risk rule engine (事中实时监测): every indexed event is checked as it is applied, in chain order.

The engine's verdicts depend only on the ordered events and the node's off-chain facts about them (deal
prices, custodian receipts, monitoring data), never on how the events were cut into indexing ranges, so a
restart, a reorg replay or a full re-index raises exactly the same alerts. Its working state (windows of
recent trades, holdings per vintage, reference prices) lives in memory and is rebuilt from the index on
start (`warm`): every rule looks back at most `horizon` seconds, so the index's last `horizon` of trades,
its balances and its alert keys are all it needs.

Alerts are rows of the index table `alert` (derived state, like balances): rule, severity, the
participants, the events and deals that are its evidence, and an explanation in Chinese and English.
"""

import hashlib
import sqlite3
import statistics
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import orjson

from node.risk.config import load_rules

GRAMS_PER_TONNE = 1_000_000
DAY = 86_400
WEEK = 7 * DAY


@dataclass(frozen=True)
class DealFact:
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


class NoFacts:
    def deal(self, deal_ref: str) -> DealFact | None:
        return None

    def tree_stock(self, evidence_root: str) -> tuple[int, int] | None:
        return None

    def project_kind(self, project_id: int) -> str:
        return ""


@dataclass(frozen=True)
class Trade:
    time: int
    block: int
    log: int
    tx: str
    batch: int
    sender: str
    receiver: str
    grams: int
    deal: DealFact | None

    @property
    def ref(self) -> dict[str, Any]:
        return {"block": self.block, "log": self.log, "tx": self.tx, "batch": self.batch}


class RiskEngine:
    def __init__(self, facts: Facts | None = None, rules: dict[str, dict[str, Any]] | None = None) -> None:
        self.facts = facts or NoFacts()
        self.rules = rules or load_rules()
        self.zone = ZoneInfo(self.rules["same_day_resale"]["timezone"])
        r = self.rules
        self.horizon = max(
            r["round_trip"]["window_s"],
            max(r["wash_loop"]["windows_s"]),
            r["price_band"]["window_s"],
            r["velocity"]["history_s"] + r["velocity"]["window_s"],
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
        self.organisation: dict[str, int] = {}
        self.registered: dict[str, int] = {}
        self.buffer_accounts: set[str] = set()
        self.batch_group: dict[int, tuple[int, str]] = {}  # batch -> (vintage, project kind)
        self.supply: defaultdict[int, int] = defaultdict(int)  # vintage -> grams issued
        self.holding: defaultdict[tuple[int, str], int] = defaultdict(int)  # (vintage, account) -> grams
        self.stock: dict[int, int] = {}  # project -> tree stock of its latest batch
        self.sends: defaultdict[tuple[int, str], deque[Trade]] = defaultdict(deque)  # (batch, sender)
        self.received: dict[tuple[int, str], Trade] = {}  # (batch, receiver) -> latest arrival
        self.out_edges: defaultdict[str, deque[Trade]] = defaultdict(deque)  # all batches, wash window
        self.trades_of: defaultdict[str, deque[Trade]] = defaultdict(deque)  # both sides, horizon
        self.deals_between: defaultdict[tuple[int, str, str], deque[Trade]] = defaultdict(deque)
        self.prices: defaultdict[tuple[int, str], deque[Trade]] = defaultdict(deque)
        self.price_sums: defaultdict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])  # Σp·g, Σg
        self.percentile_day = -1
        self.volume_percentile: float | None = None
        self.latest = 0

    def warm(self, db: sqlite3.Connection) -> None:
        """Rebuilds the working state from a committed index (after a restart)."""
        self.reset()
        self.keys = {row[0] for row in db.execute("SELECT key FROM alert")}
        for account, organisation, registered in db.execute(
            "SELECT address, organisation, registered_time FROM participant"
        ):
            self.organisation[account] = organisation
            self.registered[account] = registered
        for batch, project, period_end, quantity, buffer_account, root in db.execute(
            "SELECT id, project_id, period_end, quantity, buffer_account, evidence_root FROM batch ORDER BY id"
        ):
            vintage = self._vintage(period_end)
            self.batch_group[batch] = (vintage, self.facts.project_kind(project))
            self.supply[vintage] += quantity
            self.buffer_accounts.add(buffer_account)
            stock = self.facts.tree_stock(root)
            if stock is not None:
                self.stock[project] = stock[1]
        for batch, account, amount in db.execute("SELECT batch_id, account, amount FROM balance"):
            group = self.batch_group.get(batch)
            if group is not None:
                self.holding[(group[0], account)] += amount
        row = db.execute("SELECT MAX(block_time) FROM chain_event").fetchone()
        latest = row[0] or 0
        for block, log, tx, when, args in db.execute(
            "SELECT block_number, log_index, tx_hash, block_time, args FROM chain_event"
            " WHERE name = 'CertificateTransferred' AND block_time >= ? ORDER BY block_number, log_index",
            (latest - self.horizon,),
        ):
            self._remember(self._trade(orjson.loads(args), block, log, tx, when))
        self.latest = latest

    # events --------------------------------------------------------------------------------------
    def observe(self, name: str, args: dict[str, Any], block: int, log: int, tx: str, when: int) -> None:
        self.latest = max(self.latest, when)
        if name == "CertificateTransferred":
            self._transferred(self._trade(args, block, log, tx, when))
        elif name == "BatchIssued":
            self._issued(args, block, log, tx, when)
        elif name == "CertificateRetired":
            group = self.batch_group.get(args["batchId"])
            if group is not None:
                self.holding[(group[0], args["holder"])] -= args["amount"]
        elif name == "ParticipantRegistered":
            self.organisation[args["account"]] = args["organisation"]
            self.registered[args["account"]] = when
        elif name == "BufferConfigured":
            self.buffer_accounts.add(args["account"])
        elif name == "ReversalRecorded":
            group = self.batch_group.get(args["batchId"])
            if group is not None:
                self.holding[(group[0], args["bufferAccount"])] -= args["amount"]

    def take(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """The alert and note rows raised since the last call, for the index to insert."""
        alerts, notes = self.alerts, self.notes
        self.alerts, self.notes = [], []
        return alerts, notes

    # ---------------------------------------------------------------------------------------------
    def _vintage(self, period_end: int) -> int:
        return datetime.fromtimestamp(period_end, self.zone).year

    def _trade(self, args: dict[str, Any], block: int, log: int, tx: str, when: int) -> Trade:
        deal_ref = args.get("dealRef") or ""
        deal = self.facts.deal(deal_ref) if deal_ref and int(deal_ref, 16) else None
        return Trade(when, block, log, tx, int(args["batchId"]), args["from"], args["to"], args["amount"], deal)

    def _issued(self, a: dict[str, Any], block: int, log: int, tx: str, when: int) -> None:
        batch, project = int(a["batchId"]), a["projectId"]
        vintage = self._vintage(a["periodEnd"])
        self.batch_group[batch] = (vintage, self.facts.project_kind(project))
        self.supply[vintage] += a["quantity"]
        self.buffer_accounts.add(a["bufferAccount"])
        self.holding[(vintage, a["bufferAccount"])] += a["bufferAmount"]
        self.holding[(vintage, a["owner"])] += a["quantity"] - a["bufferAmount"]
        ref = {"block": block, "log": log, "tx": tx, "batch": batch}
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
            tonnes = loss / GRAMS_PER_TONNE
            self._alert(
                "ecological_loss", when, block, log, tx, [a["owner"]], [ref], [],
                f"项目 {project} 的林木碳储量较上期减少 {tonnes:.2f} 吨 CO2e（死亡、移除或火灾），"
                "建议从缓冲池记录等量冲销。",
                f"Project {project}'s tree carbon stock fell by {tonnes:.2f} t CO2e against the previous period (dead"
                f" or removed trees, fire); a buffer reversal of that amount is proposed.",
                {"project_id": project, "loss_grams": loss, "previous_stock_grams": reference, "stock_grams": end,
                 "proposed_reversal": {"batch_id": batch, "amount": loss, "loss_project_id": project}},
            )  # fmt: skip

    def _transferred(self, t: Trade) -> None:
        group = self.batch_group.get(t.batch)
        if group is not None:
            self.holding[(group[0], t.sender)] -= t.grams
            self.holding[(group[0], t.receiver)] += t.grams
        self._prune(t.time)
        self._round_trip(t)
        self._wash_loop(t)
        self._same_day_resale(t)
        if t.deal is not None:
            self._price_band(t, group)
            self._related_parties(t)
            self._disguised_financing(t)
        self._remember(t)
        self._velocity(t, t.sender)
        self._velocity(t, t.receiver)
        self._concentration(t, t.sender)
        self._concentration(t, t.receiver)
        self._new_account(t)
        if group is not None:
            self._holding_check(t.receiver, group[0], t.time, [t.ref])

    def _remember(self, t: Trade) -> None:
        self.sends[(t.batch, t.sender)].append(t)
        self.received[(t.batch, t.receiver)] = t
        self.out_edges[t.sender].append(t)
        self.trades_of[t.sender].append(t)
        self.trades_of[t.receiver].append(t)
        if t.deal is not None:
            self.deals_between[(t.batch, t.sender, t.receiver)].append(t)
            group = self.batch_group.get(t.batch)
            if group is not None:
                self.prices[group].append(t)
                sums = self.price_sums[group]
                sums[0] += t.deal.price_fen_per_tonne * t.grams
                sums[1] += t.grams

    def _prune(self, now: int) -> None:
        """Windows are pruned lazily, where they are read; the price windows here, in time order."""
        limit = now - self.rules["price_band"]["window_s"]
        for group, window in self.prices.items():
            sums = self.price_sums[group]
            while window and window[0].time < limit:
                old = window.popleft()
                assert old.deal is not None
                sums[0] -= old.deal.price_fen_per_tonne * old.grams
                sums[1] -= old.grams

    @staticmethod
    def _recent(window: deque[Trade], since: int) -> deque[Trade]:
        while window and window[0].time < since:
            window.popleft()
        return window

    # rules ---------------------------------------------------------------------------------------
    def _round_trip(self, t: Trade) -> None:
        """t: X→Y of batch b. Did units of b leave Y and reach X through transfers of b, in time order,
        within the window? Then they return to Y, an earlier holder."""
        rule = self.rules["round_trip"]
        since = t.time - rule["window_s"]
        path = self._time_path(t.batch, t.receiver, t.sender, since, rule["max_cycle_length"] - 1)
        if path is None:
            return
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

    def _time_path(self, batch: int, start: str, goal: str, since: int, depth: int) -> list[Trade] | None:
        """A time-ordered chain of transfers of `batch` from `start` to `goal` after `since` (BFS)."""
        frontier: list[tuple[str, int, list[Trade]]] = [(start, since, [])]
        for _ in range(depth):
            following: list[tuple[str, int, list[Trade]]] = []
            for account, after, path in frontier:
                for sent in self._recent(self.sends.get((batch, account), deque()), since):
                    if sent.time < after:
                        continue
                    if sent.receiver == goal:
                        return [*path, sent]
                    if len(following) < 256:
                        following.append((sent.receiver, sent.time, [*path, sent]))
            frontier = following
            if not frontier:
                return None
        return None

    def _wash_loop(self, t: Trade) -> None:
        """t: X→Y. A loop Y→…→X (any batches) within 7 days closes a cycle; its members' net positions
        over the smallest window holding the loop, among themselves, must stay within the tolerance."""
        rule = self.rules["wash_loop"]
        windows = sorted(rule["windows_s"])
        since = t.time - windows[-1]
        path = self._any_path(t.receiver, t.sender, since, rule["max_cycle_length"] - 1)
        if path is None:
            return
        members = {t.sender, t.receiver, *[p.receiver for p in path]}
        span = t.time - min(p.time for p in path)
        window = next(w for w in windows if span <= w)
        inside = [
            trade
            for m in members
            for trade in self.out_edges.get(m, ())
            if trade.time >= t.time - window and trade.receiver in members
        ] + [t]
        net: defaultdict[str, int] = defaultdict(int)
        for trade in inside:
            net[trade.sender] -= trade.grams
            net[trade.receiver] += trade.grams
        mean = sum(trade.grams for trade in inside) / len(inside)
        worst = max(abs(v) for v in net.values())
        if worst > rule["net_tolerance"] * mean:
            return
        label = {3_600: "1 小时", 86_400: "1 天", 604_800: "7 天"}.get(window, f"{window} s")
        self._alert(
            "wash_loop", t.time, t.block, t.log, t.tx, sorted(members), [trade.ref for trade in inside],
            self._deal_ids(inside),
            f"{len(members)} 个账户在 {label} 内循环交易 {len(inside)} 笔，各自净头寸不超过平均成交量的"
            f" {rule['net_tolerance']:.0%}：疑似对倒。",
            f"{len(members)} accounts traded {len(inside)} times in a loop within {window // 3600} h, each one's net"
            f" position within {rule['net_tolerance']:.0%} of the mean deal size: a wash loop.",
            {"window_s": window, "trades": len(inside), "max_net_grams": worst, "mean_grams": mean},
        )  # fmt: skip

    def _any_path(self, start: str, goal: str, since: int, depth: int) -> list[Trade] | None:
        frontier: list[tuple[str, list[Trade]]] = [(start, [])]
        seen = {start}
        for _ in range(depth):
            following: list[tuple[str, list[Trade]]] = []
            for account, path in frontier:
                for sent in self._recent(self.out_edges.get(account, deque()), since):
                    if sent.receiver == goal:
                        return [*path, sent]
                    if sent.receiver not in seen and len(seen) < 512:
                        seen.add(sent.receiver)
                        following.append((sent.receiver, [*path, sent]))
            frontier = following
            if not frontier:
                return None
        return None

    def _same_day_resale(self, t: Trade) -> None:
        rule = self.rules["same_day_resale"]
        arrival = self.received.get((t.batch, t.sender))
        if arrival is None or t.grams < rule["min_grams"]:
            return
        day = datetime.fromtimestamp(t.time, self.zone).date()
        if datetime.fromtimestamp(arrival.time, self.zone).date() != day:
            return
        self._alert(
            "same_day_resale", t.time, t.block, t.log, t.tx, [arrival.sender, t.sender, t.receiver],
            [arrival.ref, t.ref], self._deal_ids([arrival, t]),
            f"{t.sender[:10]} 于 {day} 买入批次 {t.batch} 后当日转出 {t.grams / GRAMS_PER_TONNE:.2f} 吨。",
            f"{t.sender[:10]} received batch {t.batch} and passed {t.grams / GRAMS_PER_TONNE:.2f} t on the same day"
            f" ({day}).",
            {"day": str(day), "batch_id": t.batch},
        )  # fmt: skip

    def _price_band(self, t: Trade, group: tuple[int, str] | None) -> None:
        assert t.deal is not None
        rule = self.rules["price_band"]
        if group is None:
            return
        window = self.prices.get(group, deque())
        weighted, grams = self.price_sums[group]
        if len(window) < rule["min_reference_deals"] or grams == 0:
            self.notes.append(
                ("price_band", t.block, t.log, t.tx, t.deal.deal_id,
                 f"no reference price for vintage {group[0]} {group[1] or '-'}: {len(window)} deal(s) in the window")
            )  # fmt: skip
            return
        reference = weighted / grams
        block = t.grams >= rule["block_grams"]
        band = rule["block_band"] if block else rule["band"]
        price = t.deal.price_fen_per_tonne
        if abs(price - reference) <= band * reference:
            return
        off = (price - reference) / reference
        self._alert(
            "price_band", t.time, t.block, t.log, t.tx, [t.sender, t.receiver], [t.ref], [t.deal.deal_id],
            f"成交价 {price / 100:.2f} 元/吨 偏离同年份同类型近 30 天成交量加权均价 {reference / 100:.2f} 元/吨"
            f" {off:+.1%}（允许 ±{band:.0%}{'，大宗交易' if block else ''}）。",
            f"Price {price / 100:.2f} CNY/t is {off:+.1%} from the 30-day volume-weighted {reference / 100:.2f} CNY/t"
            f" of vintage {group[0]} {group[1] or ''} (band ±{band:.0%}{', block deal' if block else ''}).",
            {"price_fen": price, "reference_fen": round(reference), "band": band, "block": block,
             "vintage": group[0], "kind": group[1]},
        )  # fmt: skip

    def _related_parties(self, t: Trade) -> None:
        assert t.deal is not None
        organisation = self.organisation.get(t.sender)
        if t.deal.price_fen_per_tonne <= 0 or organisation is None or organisation != self.organisation.get(t.receiver):
            return
        self._alert(
            "related_parties", t.time, t.block, t.log, t.tx, [t.sender, t.receiver], [t.ref], [t.deal.deal_id],
            f"买卖双方同属组织 {organisation}，却以 {t.deal.price_fen_per_tonne / 100:.2f} 元/吨 成交（关联交易）。",
            f"Both sides belong to organisation {organisation} yet the deal carries a price of"
            f" {t.deal.price_fen_per_tonne / 100:.2f} CNY/t (related parties).",
            {"organisation": organisation},
        )  # fmt: skip

    def _disguised_financing(self, t: Trade) -> None:
        assert t.deal is not None
        rule = self.rules["disguised_financing"]
        due = t.deal.price_fen_per_tonne * t.grams / GRAMS_PER_TONNE
        paid = t.deal.receipt_amount_fen
        if paid is not None and abs(paid - due) > rule["receipt_tolerance_fen"]:
            self._alert(
                "disguised_financing", t.time, t.block, t.log, t.tx, [t.sender, t.receiver], [t.ref],
                [t.deal.deal_id],
                f"托管行回单金额 {paid / 100:.2f} 元与价格×数量 {due / 100:.2f} 元不符。",
                f"The custodian's receipt says {paid / 100:.2f} CNY but price × quantity is {due / 100:.2f} CNY.",
                {"kind": "receipt_mismatch", "receipt_fen": paid, "due_fen": round(due)},
            )  # fmt: skip
        # t: X→Y. Did Y sell this batch to X within the window at a lower price? Then Y buys it back.
        since = t.time - rule["window_s"]
        for earlier in self._recent(self.deals_between.get((t.batch, t.receiver, t.sender), deque()), since):
            assert earlier.deal is not None
            if earlier.deal.price_fen_per_tonne < t.deal.price_fen_per_tonne:
                days = (t.time - earlier.time) / DAY
                rate = t.deal.price_fen_per_tonne / earlier.deal.price_fen_per_tonne - 1
                self._alert(
                    "disguised_financing", t.time, t.block, t.log, t.tx, [t.receiver, t.sender],
                    [earlier.ref, t.ref], [earlier.deal.deal_id, t.deal.deal_id],
                    f"{t.receiver[:10]} 在 {days:.0f} 天后以高 {rate:.1%} 的价格从同一买方回购批次 {t.batch}："
                    "疑似变相融资。",
                    f"{t.receiver[:10]} bought batch {t.batch} back from the same buyer {days:.0f} days later at a"
                    f" {rate:.1%} higher price: a loan in disguise.",
                    {"kind": "buy_back", "days": round(days, 1), "premium": round(rate, 4)},
                )  # fmt: skip
                return

    def _velocity(self, t: Trade, account: str) -> None:
        rule = self.rules["velocity"]
        window, history = rule["window_s"], rule["history_s"]
        trades = self._recent(self.trades_of[account], t.time - history - window)
        # Weekly blocks ending now: block 0 is the current window, blocks 1..n the trailing history.
        blocks = history // window + 1
        counts, volumes = [0] * blocks, [0] * blocks
        for trade in trades:
            index = (t.time - trade.time) // window
            if index < blocks:
                counts[index] += 1
                volumes[index] += trade.grams
        count_median, volume_median = statistics.median(counts[1:]), statistics.median(volumes[1:])
        hot_count = counts[0] >= rule["floor_count"] and counts[0] > rule["multiple"] * count_median
        hot_volume = volumes[0] >= rule["floor_grams"] and volumes[0] > rule["multiple"] * volume_median
        if not (hot_count or hot_volume):
            return
        week = t.time // window
        self._alert(
            "velocity", t.time, t.block, t.log, t.tx, [account], [t.ref], self._deal_ids([t]),
            f"{account[:10]} 近 7 天成交 {counts[0]} 笔、{volumes[0] / GRAMS_PER_TONNE:.1f} 吨，超过其过去 90 天"
            f"周中位数（{count_median:g} 笔、{volume_median / GRAMS_PER_TONNE:.1f} 吨）的 {rule['multiple']:g} 倍。",
            f"{account[:10]} made {counts[0]} deals, {volumes[0] / GRAMS_PER_TONNE:.1f} t in 7 days, over"
            f" {rule['multiple']:g}× its trailing 90-day weekly median ({count_median:g} deals,"
            f" {volume_median / GRAMS_PER_TONNE:.1f} t).",
            {"count": counts[0], "grams": volumes[0], "median_count": count_median, "median_grams": volume_median},
            dedup=f"{account}|{week}",
        )  # fmt: skip

    def _concentration(self, t: Trade, account: str) -> None:
        rule = self.rules["counterparty_concentration"]
        trades = [x for x in self.trades_of[account] if x.time >= t.time - rule["window_s"]]
        total = sum(x.grams for x in trades)
        if len(trades) < rule["min_deals"] or total < rule["min_grams"]:
            return
        by: defaultdict[str, list[int]] = defaultdict(lambda: [0, 0])
        for x in trades:
            other = x.receiver if x.sender == account else x.sender
            by[other][0] += 1
            by[other][1] += x.grams
        other, (count, grams) = max(by.items(), key=lambda item: (item[1][1], item[0]))
        if count < rule["min_deals"] or grams < rule["share"] * total:
            return
        self._alert(
            "counterparty_concentration", t.time, t.block, t.log, t.tx, [account, other], [t.ref],
            self._deal_ids([x for x in trades if other in (x.sender, x.receiver)]),
            f"{account[:10]} 近 30 天 {grams / total:.0%} 的成交量（{count} 笔）集中于同一对手方 {other[:10]}。",
            f"{grams / total:.0%} of {account[:10]}'s 30-day volume ({count} deals) is with one counterparty,"
            f" {other[:10]}.",
            {"share": round(grams / total, 4), "deals": count},
            dedup=f"{account}|{other}|{t.time // rule['window_s']}",
        )  # fmt: skip

    def _new_account(self, t: Trade) -> None:
        rule = self.rules["new_account_volume"]
        day = t.time // DAY
        if day != self.percentile_day:
            self.percentile_day = day
            self.volume_percentile = self._percentile(t.time, rule)
        if self.volume_percentile is None:
            return
        for account in (t.sender, t.receiver):
            registered = self.registered.get(account)
            if registered is None or t.time - registered >= rule["age_s"]:
                continue
            volume = sum(x.grams for x in self.trades_of[account] if x.time >= t.time - rule["window_s"])
            if volume <= self.volume_percentile:
                continue
            self._alert(
                "new_account_volume", t.time, t.block, t.log, t.tx, [account], [t.ref], self._deal_ids([t]),
                f"开户不足 30 天的账户 {account[:10]} 成交 {volume / GRAMS_PER_TONNE:.1f} 吨，超过全部账户 30 天"
                f"成交量的 {rule['percentile']:.0%} 分位（{self.volume_percentile / GRAMS_PER_TONNE:.1f} 吨）。",
                f"{account[:10]}, registered less than 30 days ago, moved {volume / GRAMS_PER_TONNE:.1f} t, above the"
                f" {rule['percentile']:.0%} percentile of all accounts' 30-day volume"
                f" ({self.volume_percentile / GRAMS_PER_TONNE:.1f} t).",
                {"grams": volume, "percentile_grams": self.volume_percentile},
                dedup=account,
            )  # fmt: skip

    def _percentile(self, now: int, rule: dict[str, Any]) -> float | None:
        """The percentile of every active account's volume over the 30 days before today (UTC): computed
        once a day, from trades before the day began, so it depends on the events alone."""
        until = now - now % DAY
        since = until - rule["window_s"]
        volumes = sorted(
            total
            for trades in self.trades_of.values()
            if (total := sum(x.grams for x in trades if since <= x.time < until)) > 0
        )
        if len(volumes) < rule["min_accounts"]:
            return None
        position = rule["percentile"] * (len(volumes) - 1)
        low = int(position)
        high = min(low + 1, len(volumes) - 1)
        return volumes[low] + (volumes[high] - volumes[low]) * (position - low)

    def _holding_check(self, account: str, vintage: int, when: int, refs: list[dict[str, Any]]) -> None:
        rule = self.rules["holding_concentration"]
        if account in self.buffer_accounts:
            return
        supply = self.supply.get(vintage, 0)
        held = self.holding.get((vintage, account), 0)
        if supply == 0 or held < rule["cap"] * rule["report_at"] * supply:
            return
        ref = refs[-1]
        self._alert(
            "holding_concentration", when, ref["block"], ref["log"], ref["tx"], [account], refs, [],
            f"{account[:10]} 持有 {vintage} 年份签发量的 {held / supply:.1%}，"
            f"已达上限 {rule['cap']:.0%} 的一半（举牌）。",
            f"{account[:10]} holds {held / supply:.1%} of vintage {vintage}'s issued supply, half of the"
            f" {rule['cap']:.0%} cap or more.",
            {"vintage": vintage, "share": round(held / supply, 4)},
            dedup=f"{account}|{vintage}",
        )  # fmt: skip

    # ---------------------------------------------------------------------------------------------
    @staticmethod
    def _deal_ids(trades: Iterable[Trade]) -> list[int]:
        return sorted({t.deal.deal_id for t in trades if t.deal is not None})

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
        identity = dedup if dedup is not None else f"{block}:{log}"
        key = hashlib.sha256(f"{rule}|{identity}".encode()).hexdigest()[:32]
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


def insert_alerts(db: sqlite3.Connection, engine: RiskEngine) -> None:
    alerts, notes = engine.take()
    if alerts:
        db.executemany(
            "INSERT OR IGNORE INTO alert (key, rule, severity, block_number, log_index, tx_hash, block_time,"
            " participants, evidence, deals, explanation_zh, explanation_en, details)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            alerts,
        )
    if notes:
        db.executemany(
            "INSERT INTO risk_note (rule, block_number, log_index, tx_hash, deal_id, note) VALUES (?,?,?,?,?,?)",
            notes,
        )
