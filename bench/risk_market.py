"""The generated market the risk benchmark (bench.risk) and the rule-process tests judge the rules on.

A year of history on a ledger that starts empty: the first event is the first account's registration at
2025-01-01 00:00 (Asia/Shanghai), the first batches are issued and the first deals are made that day, and
every alert from the first event on is scored (the first months are where a rule without a warm-up raises
false alerts).

Ordinary activity (the documented model):
- accounts: project owners who sell, traders who buy from owners and sell to end buyers at least a
  calendar day later (Asia/Shanghai), end buyers who only buy. Most accounts exist from the start; 40 % of
  the traders and 30 % of the end buyers are registered during the year and trade from 30 days after
  registration; 2 % of the accounts are "joiners" who trade from registration but no more than the
  median deal size in their first 30 days.
- many projects per vintage: every owner has one project with a batch of vintage 2023 and one of vintage
  2024, so each vintage has max(40, accounts / 100) projects (100 in the full run) and holders are judged
  per batch, not per vintage.
- organisations: each account is its own organisation, except that 2 % of the end buyers have one or two
  sister accounts of their organisation, to which they move units at price 0 every 60-120 days (half as
  deals at price 0, half as transfers without a deal); 2 % of the end buyers give units away (a deal at
  price 0) to an unrelated end buyer every 60-120 days. Units moved were received on an earlier calendar
  day, and the accounts they go to never send anything (no cycle, no same-day resale).
- end buyers buy in turn (each once in a shuffled round of all), and no pair of accounts deals more than
  twice in 30 days: buying is not bursty and no ordinary pair is a counterparty concentration;
- deal sizes lognormal (median 5 t, sigma 1.0, capped by what the seller holds); prices follow a slow
  drift around 50 CNY/t (±1 %/month) with ±4 % noise per deal (σ 2 %), so no ordinary deal leaves the
  ±10 % band of its reference even on the ledger's first day; custodian receipts are exact
  (registry.units.deal_total_fen: price × grams / 1,000,000 rounded half up);
- activity seasonal: the daily rate follows 1 + 0.5·sin over the year;
- owners' batches grow their tree stock from period to period.
Ordinary flow is acyclic (owners → traders → end buyers → sisters or gift receivers), so none of it is a
round trip or a wash loop.

Into it `plant` puts `cases` cases of every rule on accounts of their own (the truth), and as many near
misses per rule, which must raise no alert at all (see `plant` for each). `implied` lists what a planted
case of one rule is under another rule's definition too (a wash loop of one batch is a round trip): an
alert naming it is correct but does not count for recall.
"""

import math
import random
from collections import defaultdict
from typing import Any

from node.index.decode import IndexedEvent, RawLog
from node.risk.engine import Backing, DealFact
from registry.units import deal_total_fen

TONNE = 1_000_000
DAY = 86_400
HOUR = 3_600
START = 1_735_660_800  # 2025-01-01 00:00 Asia/Shanghai: the ledger's first event
YEAR_DAYS = 365
ZERO = "0x" + "00" * 32
VINTAGE_2024_END = START  # a period ending 2025-01-01 00:00 is vintage 2024
VINTAGE_2023_END = START - 366 * DAY
NODE_ORGANISATION = 888_888  # the organisation of the node the rules run on


def acct(n: int) -> str:
    return "0x" + f"{n:040x}"


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
        self.next_organisation = 1
        self.truth: dict[str, list[frozenset[str]]] = defaultdict(list)
        self.implied: dict[str, list[frozenset[str]]] = defaultdict(list)
        self.near: dict[str, list[frozenset[str]]] = defaultdict(list)
        self.near_accounts: set[str] = set()
        self.planted: set[int] = set()  # seqs of the events plant() emitted (cases and near misses)
        self.planting = False
        self.planted_blocks: set[int] = set()
        self.accounts, self.events, self.cases = accounts, events, cases

    # ---------------------------------------------------------------------------------------------
    def new_account(self, at: int, organisation: int | None = None) -> str:
        who = acct(self.next_account)
        self.next_account += 1
        if organisation is None:
            organisation = self.next_organisation
            self.next_organisation += 1
        self.emit(at, "ParticipantRegistered", {"account": who, "organisation": organisation, "roles": 0,
                                                "admin": acct(0xFFFF)})  # fmt: skip
        return who

    def organisation_of_new(self) -> int:
        organisation = self.next_organisation
        self.next_organisation += 1
        return organisation

    def emit(self, at: int, name: str, args: dict[str, Any]) -> None:
        self.seq += 1
        if self.planting:
            self.planted.add(self.seq)
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

    def trade(self, at: int, batch: int, sender: str, receiver: str, grams: int, price_fen: int | None,
              receipt_fen: int | None = None) -> None:  # fmt: skip
        """A transfer carrying a deal at `price_fen` per tonne (None: a transfer without a deal), settled
        by a custodian receipt of the deal's total unless `receipt_fen` says otherwise."""
        if price_fen is None:
            ref = ZERO
        else:
            deal_id = self.next_deal
            self.next_deal += 1
            ref = "0x" + f"{deal_id:064x}"
            due = deal_total_fen(price_fen, grams)
            self.facts.deals[ref] = DealFact(deal_id, price_fen, due if receipt_fen is None else receipt_fen)
        self.emit(at, "CertificateTransferred", {"batchId": batch, "from": sender, "to": receiver, "amount": grams,
                                                 "dealRef": ref})  # fmt: skip

    def reference_price(self, at: int) -> float:
        month = (at - START) / (30 * DAY)
        return 5_000 * (1 + 0.01 * math.sin(month * 0.9) + 0.005 * month / 12)

    # ordinary activity ---------------------------------------------------------------------------
    def ordinary(self) -> None:
        rng = self.rng
        n_owners = max(40, self.accounts // 100)
        n_traders = max(60, self.accounts // 11)
        n_joiners = max(20, self.accounts // 50)
        n_buyers = max(100, (self.accounts - n_owners - n_traders - n_joiners) * 100 // 106)
        n_parents = max(5, n_buyers // 50)
        n_givers = max(5, n_buyers // 50)

        def registered_at(late_share: float, last_day: int) -> int:
            if rng.random() >= late_share:
                return START
            return START + rng.randint(1, last_day) * DAY + rng.randint(0, DAY - 1)

        owners = [self.new_account(START) for _ in range(n_owners)]
        # (account, registered, trades from)
        traders = []
        for _ in range(n_traders):
            at = registered_at(0.4, 300)
            traders.append((self.new_account(at), at, at if at == START else at + 30 * DAY))
        buyers = []
        for _ in range(n_buyers):
            at = registered_at(0.3, 320)
            buyers.append((self.new_account(at), at, at if at == START else at + 30 * DAY))
        joiners = []
        for _ in range(n_joiners):
            at = START + rng.randint(1, 330) * DAY + rng.randint(0, DAY - 1)
            joiners.append((self.new_account(at), at, at))
        young_until = {who: at + 30 * DAY for who, at, _ in joiners}
        # Organisations with sister accounts, and givers, among the end buyers registered at the start.
        founders = [who for who, at, _ in buyers if at == START]
        rng.shuffle(founders)
        parents = founders[:n_parents]
        givers = founders[n_parents : n_parents + n_givers]
        next_move = {who: rng.randint(20, 120) for who in [*parents, *givers]}
        sisters: dict[str, list[str]] = {}
        for parent in parents:
            organisation = next(a["organisation"] for _, _, name, a in self.items if a.get("account") == parent)
            sisters[parent] = [self.new_account(START, organisation) for _ in range(rng.randint(1, 2))]
        movers = [*parents, *givers]  # a list: the same order in every process
        gift_receivers = [who for who, at, _ in buyers if who not in next_move and at == START]

        batches: list[int] = []
        for p, owner in enumerate(owners, start=1):
            for index, vintage_end in ((1, VINTAGE_2023_END), (2, VINTAGE_2024_END)):
                stock = (10_000 * TONNE * index, 10_000 * TONNE * index + 2_000 * TONNE)
                batches.append(self.issue(START, p, index, owner, 3_000_000 * TONNE, vintage_end, stock))
        schedule = sorted([*traders, *buyers, *joiners], key=lambda item: item[2])
        trader_set = {who for who, _, _ in traders}
        active_traders: list[str] = []
        active_buyers: list[str] = []
        next_active = 0
        trader_stock: dict[str, list[tuple[int, int, int]]] = defaultdict(list)  # trader -> [(batch, grams, day)]
        buyer_stock: dict[str, list[tuple[int, int, int]]] = defaultdict(list)  # movers only
        bought: dict[tuple[str, int], int] = {}  # (trader, batch) -> the day it last bought that batch
        # End buyers buy in turn (a shuffled round each time all have bought), so none buys in bursts; no
        # pair deals more than twice in 30 days, so no ordinary pair is a concentration.
        deals_of: dict[tuple[str, str], list[int]] = defaultdict(list)

        def pair_ok(a: str, b: str, day: int) -> bool:
            days = deals_of.get((a, b))
            return not days or sum(1 for d in days[-2:] if d > day - 32) < 2

        turn: list[str] = []

        def next_buyer(trader: str, day: int, moving: set[str]) -> str:
            for _ in range(100):
                if not turn:
                    turn.extend(active_buyers)
                    rng.shuffle(turn)
                buyer = turn.pop()
                if buyer not in moving and pair_ok(trader, buyer, day):
                    break
            deals_of[(trader, buyer)].append(day)
            return buyer

        median = 5 * TONNE
        per_day = self.events / YEAR_DAYS
        made = 0
        for day in range(YEAR_DAYS):
            if made >= self.events:
                break
            clock = START + day * DAY
            while next_active < len(schedule) and schedule[next_active][2] <= clock:  # from the next day
                who = schedule[next_active][0]
                (active_traders if who in trader_set else active_buyers).append(who)
                next_active += 1
            # Units moved inside a group or given away, between 00:00 and 01:00, of lots received on an
            # earlier day; the movers buy nothing that day.
            moving = set()
            for who in movers:
                if next_move[who] > day or not buyer_stock[who]:
                    continue
                lots = [lot for lot in buyer_stock[who] if lot[2] < day]
                if not lots:
                    continue
                batch, held, _ = lots[0]
                grams = max(TONNE // 100, held // 2)
                buyer_stock[who].remove(lots[0])
                if held > grams:
                    buyer_stock[who].append((batch, held - grams, lots[0][2]))
                at = clock + rng.randint(0, HOUR - 1)
                if who in sisters:
                    to = sisters[who][next_move[who] % len(sisters[who])]
                    self.trade(at, batch, who, to, grams, 0 if rng.random() < 0.5 else None)
                else:
                    self.trade(at, batch, who, rng.choice(gift_receivers), grams, 0)
                moving.add(who)
                next_move[who] = day + rng.randint(60, 120)
                made += 1
            rate = per_day * (1 + 0.5 * math.sin(2 * math.pi * day / 365))
            for _ in range(max(1, int(rate))):
                # Traders sell before 08:00 and buy after, so nothing they sell was bought the same day.
                at = clock + rng.randint(HOUR, 8 * HOUR - 1)
                grams = max(TONNE // 100, int(rng.lognormvariate(math.log(median), 1.0)))
                price = int(self.reference_price(at) * (1 + max(-0.04, min(0.04, rng.gauss(0, 0.02)))))
                trader = rng.choice(active_traders)
                stock = trader_stock[trader]
                if stock and rng.random() < 0.5:
                    batch, held, bought_on = stock[0]
                    if bought.get((trader, batch), -1) < day:  # traders resell from the next day on
                        buyer = next_buyer(trader, day, moving)
                        if buyer in young_until and at < young_until[buyer]:
                            grams = min(grams, median)
                        grams = min(grams, held)
                        self.trade(at, batch, trader, buyer, grams, price)
                        if buyer in next_move:
                            buyer_stock[buyer].append((batch, grams, day))
                        stock[0] = (batch, held - grams, bought_on)
                        if stock[0][1] == 0:
                            stock.pop(0)
                        made += 1
                        continue
                for _ in range(50):
                    batch = rng.choice(batches)
                    owner = owners[(batch >> 32) - 1]
                    if pair_ok(owner, trader, day):
                        break
                deals_of[(owner, trader)].append(day)
                at = clock + rng.randint(8 * HOUR, DAY - 1)
                self.trade(at, batch, owner, trader, grams, price)
                stock.append((batch, grams, day))
                bought[(trader, batch)] = day
                made += 1

    # planted cases and near misses ---------------------------------------------------------------
    def plant(self) -> None:
        self.planting = True
        try:
            self._plant_cases()
            self._plant_near_misses()
        finally:
            self.planting = False

    def _plant_cases(self) -> None:
        rng = self.rng
        span = 330 * DAY
        owner = self.new_account(START)
        pool = [self.issue(START + HOUR, 9_000 + k, 1, owner, 1_000_000 * TONNE, VINTAGE_2024_END,
                           (TONNE, 2 * TONNE)) for k in range(6)]  # fmt: skip

        def fresh(n: int, org: int | None = None) -> list[str]:
            return [self.new_account(START, org) for _ in range(n)]

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
            # wash loop: A→B→C→A, equal amounts of one batch, a day apart (units going round; also a round trip)
            a, b, c = fresh(3)
            at = when()
            self.trade(at - 2 * DAY, pool[2], owner, a, 10 * TONNE, price(at))
            loop = at + 12 * HOUR
            self.trade(loop, pool[2], a, b, 10 * TONNE, price(at))
            self.trade(loop + DAY, pool[2], b, c, 10 * TONNE, price(at))
            self.trade(loop + 2 * DAY, pool[2], c, a, 10 * TONNE, price(at))
            self.truth["wash_loop"].append(frozenset({a, b, c}))
            self.implied["round_trip"].append(frozenset({a, b, c}))
            # same-day resale: bought at 10:00, sold at 15:00 (Shanghai)
            a, b = fresh(2)
            day = START + (40 + rng.randint(0, 250)) * DAY
            self.trade(day + 10 * HOUR, pool[5], owner, a, 3 * TONNE, price(day))
            self.trade(day + 15 * HOUR, pool[5], a, b, 2 * TONNE, price(day))
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
                self.trade(at + k * HOUR, pool[5], a, other, TONNE, price(at))
            self.truth["velocity"].append(frozenset({a}))
            # counterparty concentration: 4 deals between the same pair within 30 days
            a, b = fresh(2)
            at = when()
            self.trade(at - 40 * DAY, pool[5], owner, a, 40 * TONNE, price(at))
            for k in range(4):
                self.trade(at + k * 5 * DAY, pool[5], a, b, 5 * TONNE, price(at))
            self.truth["counterparty_concentration"].append(frozenset({a, b}))
            # a new account, five days old, buying a thousand times the median deal
            # (from a seller of its own, whose first transfer it is: no velocity baseline to judge it by)
            at = when()
            a = self.new_account(at - 5 * DAY)
            self.trade(at, pool[5], fresh(1)[0], a, 5_000 * TONNE, price(at))
            self.truth["new_account_volume"].append(frozenset({a}))
            # related parties: two accounts of one organisation dealing at a market price
            a, b = fresh(2, org=self.organisation_of_new())
            at = when()
            self.trade(at - DAY, pool[5], owner, a, 10 * TONNE, price(at))
            self.trade(at, pool[5], a, b, 5 * TONNE, price(at))
            self.truth["related_parties"].append(frozenset({a, b}))
            # intra-group transfer: two accounts of one organisation moving units at price 0 (a deal at
            # price 0, or a transfer without a deal)
            a, b = fresh(2, org=self.organisation_of_new())
            at = when()
            self.trade(at - DAY, pool[5], owner, a, 10 * TONNE, price(at))
            self.trade(at, pool[5], a, b, 5 * TONNE, 0 if case % 2 else None)
            self.truth["intra_group_transfer"].append(frozenset({a, b}))
            # disguised financing: sale, then buy-back 40..80 days later 8 % dearer; or a receipt 50 CNY
            # off; or a receipt one fen off
            a, b = fresh(2)
            at = when()
            self.trade(at - DAY, pool[5], owner, a, 50 * TONNE, price(at))
            if case % 2:
                self.trade(at, pool[5], a, b, 20 * TONNE, price(at))
                self.trade(at + rng.randint(40, 80) * DAY, pool[5], b, a, 20 * TONNE, int(price(at) * 1.08))
            else:
                grams = 20 * TONNE + 123_457
                due = deal_total_fen(price(at), grams)
                off = 5_000 if case % 4 == 0 else (1 if case % 8 == 2 else -1)
                self.trade(at, pool[5], a, b, grams, price(at), receipt_fen=due + off)
            self.truth["disguised_financing"].append(frozenset({a, b}))
            # holding concentration: 15 % of one batch of a vintage shared with every ordinary project
            issuer, holder = fresh(2)
            batch = self.issue(START + 2 * HOUR, 9_100 + case, 1, issuer, 1_000 * TONNE, VINTAGE_2024_END,
                               (TONNE, TONNE))  # fmt: skip
            self.trade(when(), batch, issuer, holder, 150 * TONNE, price(START))
            self.truth["holding_concentration"].append(frozenset({holder}))
            # ecological loss: a second period whose tree stock fell by 40 t
            issuer = fresh(1)[0]
            project = 9_500 + case
            self.issue(START + 3 * HOUR, project, 1, issuer, 100 * TONNE, VINTAGE_2024_END,
                       (900 * TONNE, 1_000 * TONNE))  # fmt: skip
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

    def _plant_near_misses(self) -> None:
        """Per rule, cases just outside its definition: none of them may raise any alert."""
        rng = self.rng
        near_owner = self.new_account(START)
        self.near_accounts.add(near_owner)
        pool = [self.issue(START + HOUR, 19_000 + k, 1, near_owner, 1_000_000 * TONNE, VINTAGE_2024_END,
                           (TONNE, 2 * TONNE)) for k in range(6)]  # fmt: skip

        def fresh(n: int, org: int | None = None, at: int = START) -> list[str]:
            made = [self.new_account(at, org) for _ in range(n)]
            self.near_accounts.update(made)
            return made

        def when() -> int:
            return START + 40 * DAY + rng.randint(0, 250 * DAY)

        def price(at: int) -> int:
            return int(self.reference_price(at))

        for case in range(self.cases):
            even = case % 2 == 0
            owner = fresh(1)[0]
            # round trip: the units come back after 31-40 days (at the same price); or another batch comes
            # back within 3-25 days
            a, b = fresh(2)
            at = when()
            self.trade(at - DAY, pool[0], owner, a, 20 * TONNE, price(at))
            self.trade(at, pool[0], a, b, 12 * TONNE, price(at))
            if even:
                self.trade(at + rng.randint(31, 40) * DAY, pool[0], b, a, 5 * TONNE, price(at))
            else:
                self.trade(at - 2 * DAY, pool[1], owner, b, 10 * TONNE, price(at))
                self.trade(at + rng.randint(3, 25) * DAY, pool[1], b, a, 5 * TONNE, price(at))
            self.near["round_trip"].append(frozenset({a, b}))
            # wash loop: A→B→C→A within an hour, equal amounts, across three (or two) unrelated batches
            a, b, c = fresh(3)
            at = when()
            first, second, third = (pool[2], pool[3], pool[4]) if even else (pool[2], pool[3], pool[2])
            self.trade(at - 2 * DAY, first, owner, a, 10 * TONNE, price(at))
            self.trade(at - 2 * DAY + 60, second, owner, b, 10 * TONNE, price(at))
            self.trade(at - 2 * DAY + 120, third, owner, c, 10 * TONNE, price(at))
            self.trade(at, first, a, b, 10 * TONNE, price(at))
            self.trade(at + 600, second, b, c, 10 * TONNE, price(at))
            self.trade(at + 1_200, third, c, a, 10 * TONNE, price(at))
            self.near["wash_loop"].append(frozenset({a, b, c}))
            # same-day resale: bought at 10:00 and sold at 01:00 the next Shanghai day (the same UTC day);
            # or sold the same day but 1 g short of a tonne
            a, b = fresh(2)
            day = START + (40 + rng.randint(0, 250)) * DAY
            self.trade(day + 10 * HOUR, pool[5], owner, a, 3 * TONNE, price(day))
            if even:
                self.trade(day + 25 * HOUR, pool[5], a, b, 2 * TONNE, price(day))
            else:
                self.trade(day + 15 * HOUR, pool[5], a, b, TONNE - 1, price(day))
            self.near["same_day_resale"].append(frozenset({a, b}))
            # price band: 7 % above the reference; a block deal 25 % above; or, in a price group of its own
            # with three deals, a deal at price 0 and then a deal at the same price (the 0 enters no reference)
            a, b = fresh(2)
            at = when()
            if case % 3 == 0:
                self.trade(at, pool[5], owner, a, TONNE, int(price(at) * 1.07))
            elif case % 3 == 1:
                self.trade(at, pool[5], owner, a, 150 * TONNE, int(price(at) * 1.25))
            else:
                vintage_end = START + (6 + case) * 366 * DAY  # a vintage of its own: a thin price group
                thin = self.issue(at - DAY, 19_100 + case, 1, owner, 1_000 * TONNE, vintage_end, (TONNE, TONNE))
                others = fresh(3)
                for k, other in enumerate(others):
                    self.trade(at + k * HOUR, thin, owner, other, TONNE, price(at))
                self.trade(at + DAY, thin, others[0], b, TONNE // 2, 0)  # a gift, at price 0
                self.trade(at + DAY + HOUR, thin, owner, a, TONNE, price(at))
            self.near["price_band"].append(frozenset({a, b}))
            # velocity: a burst 20 days after the account's first transfer; or a burst of 9 after 13 weeks
            # of 2 a week (below the floor of 10)
            a = fresh(1)[0]
            at = START + 120 * DAY + rng.randint(0, 200) * DAY
            if even:
                self.trade(at - 20 * DAY, pool[5], owner, a, 60 * TONNE, price(at))
                for k, other in enumerate(fresh(14)):
                    self.trade(at + k * HOUR, pool[5], a, other, TONNE, price(at))
            else:
                self.trade(at - 100 * DAY, pool[5], owner, a, 60 * TONNE, price(at))
                for week in range(13):
                    for k, other in enumerate(fresh(2)):
                        self.trade(at - (13 - week) * 7 * DAY - 3 * DAY + k * HOUR, pool[5], a, other, TONNE,
                                   price(at))  # fmt: skip
                for k, other in enumerate(fresh(9)):
                    self.trade(at + k * HOUR, pool[5], a, other, TONNE, price(at))
            self.near["velocity"].append(frozenset({a}))
            # counterparty concentration: 3 deals of 3 t (9 t, below 10 t); or 2 deals of 20 t
            a, b = fresh(2)
            at = when()
            self.trade(at - 40 * DAY, pool[5], owner, a, 40 * TONNE, price(at))
            for k in range(3 if even else 2):
                self.trade(at + k * 5 * DAY, pool[5], a, b, (3 if even else 20) * TONNE, price(at))
            self.near["counterparty_concentration"].append(frozenset({a, b}))
            # new account: 35 days old buying 5,000 t; or registered and buying in the ledger's first 30 days
            if even:
                at = when()
                a = fresh(1, at=at - 35 * DAY)[0]
            else:
                at = START + rng.randint(10, 25) * DAY
                a = fresh(1, at=at - 5 * DAY)[0]
            self.trade(at, pool[5], fresh(1)[0], a, 5_000 * TONNE, price(at))
            self.near["new_account_volume"].append(frozenset({a}))
            # related parties: a gift (a deal at price 0) between two unrelated accounts
            a, b = fresh(2)
            at = when()
            self.trade(at - DAY, pool[5], owner, a, 10 * TONNE, price(at))
            self.trade(at, pool[5], a, b, 5 * TONNE, 0)
            self.near["related_parties"].append(frozenset({a, b}))
            # intra-group transfer: a transfer without a deal between two unrelated accounts
            a, b = fresh(2)
            at = when()
            self.trade(at - DAY, pool[5], owner, a, 10 * TONNE, price(at))
            self.trade(at, pool[5], a, b, 5 * TONNE, None)
            self.near["intra_group_transfer"].append(frozenset({a, b}))
            # disguised financing: a buy-back 8 % dearer after 91-100 days; or a receipt exact to the fen where
            # price × quantity ends in half a fen or more (rounded up, as deal_total_fen does)
            a, b = fresh(2)
            at = when()
            self.trade(at - DAY, pool[5], owner, a, 50 * TONNE, price(at))
            if even:
                self.trade(at, pool[5], a, b, 20 * TONNE, price(at))
                self.trade(at + rng.randint(91, 100) * DAY, pool[5], b, a, 20 * TONNE, int(price(at) * 1.08))
            else:
                grams = 20 * TONNE
                while price(at) * grams % TONNE < TONNE // 2:
                    grams += 1_357
                self.trade(at, pool[5], a, b, grams, price(at))
            self.near["disguised_financing"].append(frozenset({a, b}))
            # holding concentration: 9.9 % of one batch; or 8 % of each of two batches of one project and vintage
            issuer, holder = fresh(2)
            project = 19_200 + case
            first = self.issue(START + 2 * HOUR, project, 1, issuer, 1_000 * TONNE, VINTAGE_2024_END, (TONNE, TONNE))
            if even:
                self.trade(when(), first, issuer, holder, 99 * TONNE, price(START))
            else:
                second = self.issue(START + 2 * HOUR, project, 2, issuer, 1_000 * TONNE, VINTAGE_2024_END,
                                    (TONNE, TONNE))  # fmt: skip
                at = when()
                self.trade(at, first, issuer, holder, 80 * TONNE, price(START))
                self.trade(at + DAY, second, issuer, holder, 80 * TONNE, price(START))
            self.near["holding_concentration"].append(frozenset({holder}))
            # ecological loss: a second period whose stock fell by 1 g less than a tonne; or rose
            issuer = fresh(1)[0]
            project = 19_500 + case
            self.issue(START + 3 * HOUR, project, 1, issuer, 100 * TONNE, VINTAGE_2024_END,
                       (900 * TONNE, 1_000 * TONNE))  # fmt: skip
            end = 1_000 * TONNE - (TONNE - 1) if even else 1_010 * TONNE
            self.issue(when(), project, 2, issuer, 10 * TONNE, START + 200 * DAY, (1_000 * TONNE, end))
            self.near["ecological_loss"].append(frozenset({issuer}))
            # issuance not backed: issued for exactly what the node's report computes; or a project of
            # another organisation with no report on the node
            issuer = fresh(1)[0]
            self.issue(when(), 19_700 + case, 1, issuer, 100 * TONNE, START + 30 * DAY, (TONNE, 2 * TONNE),
                       computed=-1 if even else None)  # fmt: skip
            self.near["issuance_not_backed"].append(frozenset({issuer}))

    def stream(self) -> list[IndexedEvent]:
        self.items.sort(key=lambda item: (item[0], item[1]))
        events = []
        self.planted_blocks = set()
        for block, (at, seq, name, args) in enumerate(self.items, start=1):
            if seq in self.planted:
                self.planted_blocks.add(block)
            log = RawLog(block, "0x" + f"{block:064x}", at, "0x" + f"{block:064x}", 0, (), b"")
            events.append(IndexedEvent(log, name, args))
        return events
