"""The risk rules against a generated market with planted cases of known ground truth.

Ordinary activity (the documented model):
- accounts: project owners who sell, traders who buy from owners and sell to end buyers at least a day
  later, end buyers who only buy; each account is its own organisation; a few end buyers open during the
  year and trade no more than the median deal size in their first 30 days;
- deal sizes lognormal (median 5 t, sigma 1.0, capped by what the seller holds); prices drift as a slow
  random walk around 50 CNY/t (±1 %/month) with ±7 % noise per deal; custodian receipts exact;
- activity seasonal: the daily rate follows 1 + 0.5·sin over the year (planting and reporting seasons);
- owners' batches grow their tree stock from period to period.
Ordinary flow is acyclic (owners → traders → end buyers), so none of it is a round trip or a wash loop.

Ordinary activity begins 120 days before the scored year (a burn-in, so that every account has the
baseline the velocity rule compares with); alerts raised in the burn-in are not scored.

Into it the benchmark plants `--cases` cases of every rule on accounts of their own and scores the
alerts: a planted case is found if an alert of its rule names its participants; an alert is correct if it
names a planted case of its rule. It also times indexing the same events (the index's apply stage:
derived state and events into SQLite, a transaction per 5,000 events) with the rules off and on. "On" is
the node's default, the rules in a process of their own (node.risk.worker) whose alerts each transaction
waits for; the rules in the indexer's own thread are timed too, for the record. The alerts of both are
compared: they must be the same rows.

    python -m bench.risk [--quick]
"""

import argparse
import functools
import gc
import math
import os
import random
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from node.index.apply import Applier
from node.index.db import connect_writer
from node.index.decode import IndexedEvent, RawLog
from node.risk.config import RULES
from node.risk.engine import Backing, DealFact, RiskEngine, Rules
from node.risk.worker import RiskWorker

TONNE = 1_000_000
DAY = 86_400
START = 1_735_660_800  # 2025-01-01 00:00 Asia/Shanghai
ZERO = "0x" + "00" * 32
BURN_IN_DAYS = 120  # ordinary activity starts this long before the scored year, so baselines exist


def acct(n: int) -> str:
    return "0x" + f"{n:040x}"


NODE_ORGANISATION = 888_888  # the organisation of the node the rules run on


class Facts:
    def __init__(self) -> None:
        self.deals: dict[str, DealFact] = {}
        self.stocks: dict[str, tuple[int, int]] = {}
        self.backings: dict[str, Backing] = {}

    def backing(self, evidence_root: str) -> Backing | None:
        return self.backings.get(evidence_root)

    def organisation(self) -> int | None:
        return NODE_ORGANISATION

    def deal(self, deal_ref: str) -> DealFact | None:
        return self.deals.get(deal_ref)

    def tree_stock(self, evidence_root: str) -> tuple[int, int] | None:
        return self.stocks.get(evidence_root)

    def project_kind(self, project_id: int) -> str:
        return ("park", "wetland", "street_trees")[project_id % 3]


class Generator:
    """Builds the event stream (time-ordered) and the ground truth."""

    def __init__(self, accounts: int, events: int, cases: int, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.facts = Facts()
        self.items: list[tuple[int, int, str, dict[str, Any]]] = []  # (time, seq, name, args)
        self.seq = 0
        self.next_account = 1
        self.next_deal = 1
        self.truth: dict[str, list[frozenset[str]]] = defaultdict(list)
        self.accounts, self.events, self.cases = accounts, events, cases

    # ---------------------------------------------------------------------------------------------
    def new_account(self, at: int, organisation: int | None = None) -> str:
        who = acct(self.next_account)
        self.next_account += 1
        self.emit(at, "ParticipantRegistered", {"account": who, "organisation": organisation or self.next_account,
                                                "roles": 0, "admin": acct(0xFFFF)})  # fmt: skip
        return who

    def emit(self, at: int, name: str, args: dict[str, Any]) -> None:
        self.seq += 1
        self.items.append((at, self.seq, name, args))

    def issue(self, at: int, project: int, index: int, owner: str, grams: int, vintage_end: int,
              stock: tuple[int, int], computed: int | None = -1) -> int:  # fmt: skip
        """A batch whose monitoring report on the node computes `computed` grams (by default the issued
        quantity; None: no report on the node)."""
        batch = (project << 32) | index
        root = "0x" + f"{batch:064x}"
        self.facts.stocks[root] = stock
        if computed is not None:
            self.facts.backings[root] = Backing(project, grams if computed == -1 else computed)
        if index == 1:
            self.emit(at, "ProjectRegistered", {"projectId": project, "owner": owner, "registrar": acct(0xFFFF),
                                                "metadataHash": ZERO})  # fmt: skip
        self.emit(at, "BatchIssued", {
            "batchId": batch, "projectId": project, "verifier": acct(0xFFFE), "issuer": acct(0xFFFD), "owner": owner,
            "bufferAccount": acct(0xBBBB), "periodStart": vintage_end - 365 * DAY, "periodEnd": vintage_end,
            "quantity": grams, "bufferAmount": grams // 10, "evidenceRoot": root,
            "methodologyId": ZERO, "verificationDigest": ZERO})  # fmt: skip
        return batch

    def trade(self, at: int, batch: int, sender: str, receiver: str, grams: int, price_fen: int,
              receipt_fen: int | None = None) -> None:  # fmt: skip
        deal_id = self.next_deal
        self.next_deal += 1
        ref = "0x" + f"{deal_id:064x}"
        due = price_fen * grams // TONNE
        self.facts.deals[ref] = DealFact(deal_id, price_fen, due if receipt_fen is None else receipt_fen)
        self.emit(at, "CertificateTransferred", {"batchId": batch, "from": sender, "to": receiver, "amount": grams,
                                                 "dealRef": ref})  # fmt: skip

    def reference_price(self, at: int) -> float:
        month = (at - START) / (30 * DAY)
        return 5_000 * (1 + 0.01 * math.sin(month * 0.9) + 0.005 * month / 12)

    # ordinary activity ---------------------------------------------------------------------------
    def ordinary(self) -> None:
        rng = self.rng
        old = START - 400 * DAY
        owners = [self.new_account(old) for _ in range(max(20, self.accounts // 100))]
        traders = [self.new_account(old) for _ in range(max(50, self.accounts // 11))]
        buyers = [self.new_account(old) for _ in range(self.accounts - len(owners) - len(traders) - 200)]
        joiners = [(self.new_account(START + rng.randint(0, 330) * DAY), 0) for _ in range(200)]
        batches: list[int] = []
        holdings: dict[tuple[int, str], int] = defaultdict(int)
        for p, owner in enumerate(owners, start=1):
            for index in range(1, 3):
                stock = (10_000 * TONNE * index, 10_000 * TONNE * index + 2_000 * TONNE)
                batch = self.issue(START - (BURN_IN_DAYS + 10) * DAY, p, index, owner, 3_000_000 * TONNE,
                                   START - (BURN_IN_DAYS + 5) * DAY, stock)  # fmt: skip
                batches.append(batch)
                holdings[(batch, owner)] += 2_700_000 * TONNE
        trader_stock: dict[str, list[tuple[int, int, int]]] = defaultdict(list)  # trader -> [(batch, grams, day)]
        bought: dict[tuple[str, int], int] = {}  # (trader, batch) -> the day it last bought that batch
        joined = {who: START for who, _ in joiners}
        for who, _ in joiners:
            joined[who] = next(at for at, _, name, a in reversed(self.items) if a.get("account") == who)
        median = 5 * TONNE
        per_day = self.events / (365 + BURN_IN_DAYS)
        clock = START - BURN_IN_DAYS * DAY
        made = 0
        while made < self.events:
            day = (clock - START) // DAY
            rate = per_day * (1 + 0.5 * math.sin(2 * math.pi * day / 365))
            for _ in range(max(1, int(rate))):
                # Traders sell before 08:00 and buy after, so nothing they sell was bought the same day.
                at = clock + rng.randint(0, 8 * 3_600 - 1)
                grams = max(TONNE // 100, int(rng.lognormvariate(math.log(median), 1.0)))
                price = int(self.reference_price(at) * (1 + max(-0.07, min(0.07, rng.gauss(0, 0.03)))))
                trader = rng.choice(traders)
                stock = trader_stock[trader]
                if stock and rng.random() < 0.5:
                    batch, held, bought_on = stock[0]
                    if bought.get((trader, batch), -1) < day:  # traders resell from the next day on
                        buyer = rng.choice(buyers) if rng.random() < 0.95 else rng.choice(joiners)[0]
                        if buyer in joined and at - joined[buyer] < 30 * DAY:
                            grams = min(grams, median)
                        if at < joined.get(buyer, 0):
                            buyer = rng.choice(buyers)
                        grams = min(grams, held)
                        self.trade(at, batch, trader, buyer, grams, price)
                        stock[0] = (batch, held - grams, bought_on)
                        if stock[0][1] == 0:
                            stock.pop(0)
                        made += 1
                        continue
                batch = rng.choice(batches)
                owner = owners[(batch >> 32) - 1]
                at = clock + rng.randint(8 * 3_600, DAY - 1)
                self.trade(at, batch, owner, trader, grams, price)
                stock.append((batch, grams, day))
                bought[(trader, batch)] = day
                made += 1
            clock += DAY

    # planted cases -------------------------------------------------------------------------------
    def plant(self) -> None:
        rng = self.rng
        span = 330 * DAY
        owner = self.new_account(START - 400 * DAY)
        pool = [self.issue(START - 9 * DAY, 9_000 + k, 1, owner, 1_000_000 * TONNE, START - 5 * DAY,
                           (TONNE, 2 * TONNE)) for k in range(6)]  # fmt: skip

        def fresh(n: int, org: int | None = None) -> list[str]:
            return [self.new_account(START - 300 * DAY, org) for _ in range(n)]

        def when() -> int:
            return START + 40 * DAY + rng.randint(0, span - 80 * DAY)

        def price(at: int) -> int:
            return int(self.reference_price(at))

        for case in range(self.cases):
            # Each case draws its units from an owner of its own, so the planted supply itself is no pattern.
            owner = fresh(1)[0]
            # round trip: A→B, then B→A part of it within 3..25 days
            a, b = fresh(2)
            at = when()
            self.trade(at - DAY, pool[0], owner, a, 20 * TONNE, price(at))
            self.trade(at, pool[0], a, b, 12 * TONNE, price(at))
            self.trade(at + rng.randint(3, 25) * DAY, pool[0], b, a, 5 * TONNE, price(at))
            self.truth["round_trip"].append(frozenset({a, b}))
            # wash loop: A→B→C→A, equal amounts, three batches, within an hour
            a, b, c = fresh(3)
            at = when()
            for who in (a, b, c):
                self.trade(at - 2 * DAY, pool[1], owner, who, 30 * TONNE, price(at))
            self.trade(at, pool[2], owner, a, 10 * TONNE, price(at))
            self.trade(at + DAY, pool[3], owner, b, 10 * TONNE, price(at))
            self.trade(at + DAY + 1, pool[4], owner, c, 10 * TONNE, price(at))
            loop = at + 2 * DAY
            self.trade(loop, pool[2], a, b, 10 * TONNE, price(at))
            self.trade(loop + 600, pool[3], b, c, 10 * TONNE, price(at))
            self.trade(loop + 1_200, pool[4], c, a, 10 * TONNE, price(at))
            self.truth["wash_loop"].append(frozenset({a, b, c}))
            # same-day resale: bought at 10:00, sold at 15:00 (Shanghai)
            a, b = fresh(2)
            day = START + (40 + rng.randint(0, 250)) * DAY
            self.trade(day + 10 * 3_600, pool[5], owner, a, 3 * TONNE, price(day))
            self.trade(day + 15 * 3_600, pool[5], a, b, 2 * TONNE, price(day))
            self.truth["same_day_resale"].append(frozenset({owner, a, b}))
            # price band: 25 % above the reference
            a = fresh(1)[0]
            at = when()
            self.trade(at, pool[5], owner, a, TONNE, int(price(at) * 1.25))
            self.truth["price_band"].append(frozenset({owner, a}))
            # velocity: one sale a week for 13 weeks, then 14 in one week, each to someone new
            a = fresh(1)[0]
            at = START + 120 * DAY + rng.randint(0, 200) * DAY
            self.trade(at - 100 * DAY, pool[5], owner, a, 60 * TONNE, price(at))
            for week, other in enumerate(fresh(13)):
                self.trade(at - (13 - week) * 7 * DAY, pool[5], a, other, TONNE, price(at))
            for k, other in enumerate(fresh(14)):
                self.trade(at + k * 3_600, pool[5], a, other, TONNE, price(at))
            self.truth["velocity"].append(frozenset({a}))
            # counterparty concentration: 4 deals between the same pair within 30 days
            a, b = fresh(2)
            at = when()
            self.trade(at - 40 * DAY, pool[5], owner, a, 40 * TONNE, price(at))
            for k in range(4):
                self.trade(at + k * 5 * DAY, pool[5], a, b, 5 * TONNE, price(at))
            self.truth["counterparty_concentration"].append(frozenset({a, b}))
            # a new account, five days old, buying a thousand times the median deal
            at = when()
            a = self.new_account(at - 5 * DAY)
            self.trade(at, pool[5], owner, a, 5_000 * TONNE, price(at))
            self.truth["new_account_volume"].append(frozenset({a}))
            # related parties: two accounts of one organisation dealing at a price
            a, b = fresh(2, org=500_000 + case)
            at = when()
            self.trade(at - DAY, pool[5], owner, a, 10 * TONNE, price(at))
            self.trade(at, pool[5], a, b, 5 * TONNE, price(at))
            self.truth["related_parties"].append(frozenset({a, b}))
            # disguised financing: sale, then buy-back 40..80 days later 8 % dearer; or a receipt mismatch
            a, b = fresh(2)
            at = when()
            self.trade(at - DAY, pool[5], owner, a, 50 * TONNE, price(at))
            if case % 2:
                self.trade(at, pool[5], a, b, 20 * TONNE, price(at))
                self.trade(at + rng.randint(40, 80) * DAY, pool[5], b, a, 20 * TONNE, int(price(at) * 1.08))
            else:
                due = price(at) * 20
                self.trade(at, pool[5], a, b, 20 * TONNE, price(at), receipt_fen=due + 5_000)
            self.truth["disguised_financing"].append(frozenset({a, b}))
            # holding concentration: 15 % of a small vintage of its own
            issuer, holder = fresh(2)
            vintage_end = START - (400 + 366 * case) * DAY
            batch = self.issue(START - 8 * DAY, 9_100 + case, 1, issuer, 1_000 * TONNE, vintage_end, (TONNE, TONNE))
            self.trade(when(), batch, issuer, holder, 150 * TONNE, price(START))
            self.truth["holding_concentration"].append(frozenset({holder}))
            # ecological loss: a second period whose tree stock fell by 40 t
            issuer = fresh(1)[0]
            project = 9_500 + case
            self.issue(START - 7 * DAY, project, 1, issuer, 100 * TONNE, START - 5 * DAY, (900 * TONNE, 1_000 * TONNE))
            self.issue(when(), project, 2, issuer, 10 * TONNE, START + 200 * DAY, (1_000 * TONNE, 960 * TONNE))
            self.truth["ecological_loss"].append(frozenset({issuer}))
            # issuance not backed: issued for 5 % more than the node's report computes; or, for a project of
            # the node's own organisation, with no report on the node at all
            if case % 2:
                issuer = fresh(1)[0]
                self.issue(when(), 9_700 + case, 1, issuer, 105 * TONNE, START + 30 * DAY, (TONNE, 2 * TONNE),
                           computed=100 * TONNE)  # fmt: skip
            else:
                issuer = fresh(1, org=NODE_ORGANISATION)[0]
                self.issue(when(), 9_700 + case, 1, issuer, 100 * TONNE, START + 30 * DAY, (TONNE, 2 * TONNE),
                           computed=None)  # fmt: skip
            self.truth["issuance_not_backed"].append(frozenset({issuer}))

    def stream(self) -> list[IndexedEvent]:
        self.items.sort(key=lambda item: (item[0], item[1]))
        events = []
        for block, (at, _, name, args) in enumerate(self.items, start=1):
            log = RawLog(block, "0x" + f"{block:064x}", at, "0x" + f"{block:064x}", 0, (), b"")
            events.append(IndexedEvent(log, name, args))
        return events


def index(events: list[IndexedEvent], path: Path, engine: Rules | None) -> float:
    db = connect_writer(path)
    applier = Applier(db, 31337, "Asia/Shanghai", engine)
    began = time.perf_counter()
    digest = "00" * 32
    for start in range(0, len(events), 5_000):
        db.execute("BEGIN")
        digest, _ = applier.apply(events[start : start + 5_000], digest)
        db.execute("COMMIT")
    elapsed = time.perf_counter() - began
    db.close()
    return elapsed


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def alert_rows(path: Path) -> list[tuple[object, ...]]:
    import sqlite3

    db = sqlite3.connect(path)
    rows = db.execute("SELECT * FROM alert ORDER BY key").fetchall()
    db.close()
    return rows


def score(path: Path, truth: dict[str, list[frozenset[str]]]) -> dict[str, tuple[float, float, int]]:
    import sqlite3

    import orjson

    db = sqlite3.connect(path)
    found: dict[str, list[set[str]]] = defaultdict(list)
    for rule, participants in db.execute("SELECT rule, participants FROM alert WHERE block_time >= ?", (START,)):
        found[rule].append(set(orjson.loads(participants)))
    db.close()
    result = {}
    for rule in RULES:
        cases = truth[rule]
        alerts = found.get(rule, [])
        hit = sum(1 for case in cases if any(case <= alert or alert <= case for alert in alerts if alert))
        correct = sum(1 for alert in alerts if any(case <= alert or alert <= case for case in cases))
        result[rule] = (hit / len(cases), correct / len(alerts) if alerts else 1.0, len(alerts))
    return result


def main() -> None:
    # As in the node (node.api.app): the younger generations collected every 50,000 allocations.
    gc.set_threshold(50_000, 20, 20)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 accounts, 100,000 events")
    parser.add_argument("--cases", type=int, default=20)
    args = parser.parse_args()
    accounts, events = (1_000, 100_000) if args.quick else (10_000, 1_000_000)
    began = time.perf_counter()
    generator = Generator(accounts, events, args.cases)
    generator.ordinary()
    generator.plant()
    stream = generator.stream()
    # The generated events and the deal facts stand for the chain and node.sqlite: out of the collector's way.
    gc.freeze()
    print(
        f"{len(stream)} events, {generator.next_account - 1} accounts generated in {time.perf_counter() - began:.1f}s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        off = index(stream, Path(tmp) / "off.sqlite", None)
        worker = RiskWorker(functools.partial(RiskEngine, generator.facts))
        try:
            worker.take()  # started, with the facts unpickled: a node pays this once, when it starts
            assert worker.pid is not None
            rules_cpu = cpu_seconds(worker.pid)
            on = index(stream, Path(tmp) / "on.sqlite", worker)
            rules_cpu = cpu_seconds(worker.pid) - rules_cpu
        finally:
            worker.close()
        in_thread = index(stream, Path(tmp) / "thread.sqlite", RiskEngine(generator.facts))
        same = alert_rows(Path(tmp) / "on.sqlite") == alert_rows(Path(tmp) / "thread.sqlite")
        scores = score(Path(tmp) / "on.sqlite", generator.truth)
    for rule, (recall, precision, alerts) in scores.items():
        print(f"{rule:28} recall {recall:.3f}  precision {precision:.3f}  alerts {alerts}")
    print(
        f"indexing: rules off {len(stream) / off:,.0f} events/s, rules on {len(stream) / on:,.0f} events/s"
        f" (in the indexer's thread {len(stream) / in_thread:,.0f} events/s, ratio {off / in_thread:.3f});"
        f" alerts the same both ways: {same}; the rule process used {rules_cpu:.1f} s of CPU"
        f" ({rules_cpu / len(stream) * 1e6:.1f} µs per event) in {on:.1f} s"
    )
    if not same:
        raise SystemExit("the rule process and the engine in the indexer's thread raised different alerts")
    recall_min = min(r for r, _, _ in scores.values())
    precision_min = min(p for _, p, _ in scores.values())
    print(
        f"BENCH risk recall_min={recall_min:.3f} precision_min={precision_min:.3f} rules_on_ratio={off / on:.3f}"
        f" events={len(stream)} accounts={generator.next_account - 1} cases_per_rule={args.cases}"
        f" rules_off_events_per_s={len(stream) / off:.0f} rules_on_events_per_s={len(stream) / on:.0f}"
        f" in_thread_ratio={off / in_thread:.3f} rules_cpu_us_per_event={rules_cpu / len(stream) * 1e6:.1f}"
    )


if __name__ == "__main__":
    main()
