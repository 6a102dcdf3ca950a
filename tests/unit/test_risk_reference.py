"""bench.risk_reference, the plain reimplementation of the rules' definitions the benchmark compares the
engine with: its verdicts on hand-made cases, and its agreement with the engine on a small generated market."""

from collections import Counter

import orjson
import pytest

from bench.risk_market import DAY, HOUR, START, TONNE, VINTAGE_2024_END, Generator
from bench.risk_reference import Reference, identity
from bench.risk_score import names
from node.risk.engine import ALERT_COLUMNS, RiskEngine


def market() -> Generator:
    """An empty market: only what a test emits."""
    return Generator(accounts=0, events=0, cases=0, seed=1)


def reference_alerts(generator: Generator) -> list:
    return Reference(generator.facts).run(generator.stream())


def rules_of(alerts: list) -> Counter:
    return Counter(alert.rule for alert in alerts)


def busy_vintage(g: Generator, projects: int = 40) -> None:
    """Many projects sharing vintage 2024, each with a batch of 1,000 t."""
    for p in range(1, projects + 1):
        g.issue(START, p, 1, g.new_account(START), 1_000 * TONNE, VINTAGE_2024_END, (TONNE, TONNE))


@pytest.mark.parametrize(("grams", "alerts"), [(150 * TONNE, 1), (99 * TONNE, 0)])
def test_holding_concentration_is_a_share_of_one_batch_among_many_projects(grams, alerts):
    g = market()
    busy_vintage(g)
    issuer, holder = g.new_account(START), g.new_account(START)
    batch = g.issue(START + HOUR, 500, 1, issuer, 1_000 * TONNE, VINTAGE_2024_END, (TONNE, TONNE))
    g.trade(START + 2 * HOUR, batch, issuer, holder, grams, 5_000)
    found = reference_alerts(g)
    assert rules_of(found)["holding_concentration"] == alerts
    assert all(a.participants == (holder,) for a in found if a.rule == "holding_concentration")


def test_a_zero_price_transfer_moves_no_reference_and_raises_no_band_alert():
    g = market()
    owner = g.new_account(START)
    buyers = [g.new_account(START) for _ in range(5)]
    batch = g.issue(START, 7, 1, owner, 1_000 * TONNE, VINTAGE_2024_END, (TONNE, TONNE))
    for k in range(3):
        g.trade(START + k * HOUR, batch, owner, buyers[k], TONNE, 5_000)
    g.trade(START + DAY, batch, buyers[0], buyers[3], TONNE // 2, 0)  # a gift
    g.trade(START + DAY + HOUR, batch, owner, buyers[4], TONNE, 5_400)  # 8 % above the three
    assert rules_of(reference_alerts(g))["price_band"] == 0


def test_a_burst_from_an_account_20_days_after_its_first_transfer_is_not_judged():
    g = market()
    owner, seller = g.new_account(START), g.new_account(START)
    batch = g.issue(START, 7, 1, owner, 10_000 * TONNE, VINTAGE_2024_END, (TONNE, TONNE))
    at = START + 100 * DAY
    g.trade(at - 20 * DAY, batch, owner, seller, 60 * TONNE, 5_000)
    for k in range(14):
        g.trade(at + k * HOUR, batch, seller, g.new_account(START), TONNE, 5_000)
    assert rules_of(reference_alerts(g))["velocity"] == 0


def test_a_loop_across_two_unrelated_batches_is_silent_and_one_batch_going_round_is_a_wash():
    for batches, wash in ((2, 0), (1, 1)):
        g = market()
        owner = g.new_account(START)
        a, b, c = (g.new_account(START) for _ in range(3))
        pool = [g.issue(START, 7 + k, 1, owner, 10_000 * TONNE, VINTAGE_2024_END, (TONNE, TONNE)) for k in range(2)]
        first, second = pool[0], pool[1] if batches == 2 else pool[0]
        at = START + 50 * DAY
        for who, batch in ((a, first), (b, second), (c, first)):
            g.trade(at - 2 * DAY, batch, owner, who, 10 * TONNE, 5_000)
        g.trade(at, first, a, b, 10 * TONNE, 5_000)
        g.trade(at + 600, second, b, c, 10 * TONNE, 5_000)
        g.trade(at + 1_200, first, c, a, 10 * TONNE, 5_000)
        found = rules_of(reference_alerts(g))
        assert found["wash_loop"] == wash, batches


@pytest.mark.parametrize(("off", "severity"), [(0, None), (1, "medium"), (-1, "medium"), (100, "high")])
def test_receipts_are_compared_with_the_total_rounded_half_up_to_the_fen(off, severity):
    g = market()
    owner, buyer = g.new_account(START), g.new_account(START)
    batch = g.issue(START, 7, 1, owner, 10_000 * TONNE, VINTAGE_2024_END, (TONNE, TONNE))
    grams = 2 * TONNE + 500_000  # 5,001 fen/t × 2.5 t = 12,502.5 fen: the total is 12,503
    g.trade(START + HOUR, batch, owner, buyer, grams, 5_001, receipt_fen=12_503 + off)
    found = [a for a in reference_alerts(g) if a.rule == "disguised_financing"]
    assert [a.severity for a in found] == ([severity] if severity else [])


def test_intra_group_transfers_at_price_0_are_disclosed_and_priced_ones_are_related_parties():
    g = market()
    owner = g.new_account(START)
    organisation = g.organisation_of_new()
    a, b = g.new_account(START, organisation), g.new_account(START, organisation)
    batch = g.issue(START, 7, 1, owner, 10_000 * TONNE, VINTAGE_2024_END, (TONNE, TONNE))
    g.trade(START + HOUR, batch, owner, a, 10 * TONNE, 5_000)
    g.trade(START + DAY, batch, a, b, TONNE, None)
    g.trade(START + DAY + 1, batch, a, b, TONNE, 0)
    g.trade(START + DAY + 2, batch, a, b, TONNE, 5_000)
    found = reference_alerts(g)
    assert [(x.rule, x.severity) for x in found if x.rule in ("intra_group_transfer", "related_parties")] == [
        ("intra_group_transfer", "low"),
        ("intra_group_transfer", "low"),
        ("related_parties", "medium"),
    ]


def test_the_engine_and_the_reference_agree_on_a_small_market():
    """Alert for alert (rule, event, severity, participants), planted and ordinary; no near miss alerts."""
    g = Generator(accounts=500, events=20_000, cases=3, seed=11)
    g.ordinary()
    g.plant()
    stream = g.stream()
    engine = RiskEngine(g.facts)
    rows = []
    for event in stream:
        log = event.log
        engine.observe(event.name, event.args, log.block_number, log.log_index, log.tx_hash, log.block_time)
        rows.extend(engine.take()[0])
    column = {name: k for k, name in enumerate(ALERT_COLUMNS)}
    engine_ids = Counter(
        identity(r[column["rule"]], r[column["severity"]], r[column["block_number"]], r[column["log_index"]],
                 tuple(orjson.loads(r[column["participants"]])))
        for r in rows
    )  # fmt: skip
    reference = Reference(g.facts).run(stream)
    reference_ids = Counter(identity(a.rule, a.severity, a.block, a.log, a.participants) for a in reference)
    assert engine_ids == reference_ids
    assert not [a for a in reference if g.near_accounts.intersection(a.participants)]
    for rule, cases in g.truth.items():
        for case in cases:
            assert any(a.rule == rule and names(set(a.participants), [case]) for a in reference), rule


def test_a_median_of_0_is_no_baseline():
    """An account trading less than weekly: one deal of 5,000 t is no burst (docs/supervision.md, velocity)."""
    g = market()
    owner, seller = g.new_account(START), g.new_account(START)
    batch = g.issue(START, 7, 1, owner, 100_000 * TONNE, VINTAGE_2024_END, (TONNE, TONNE))
    g.trade(START + HOUR, batch, owner, seller, 6_000 * TONNE, 5_000)
    g.trade(START + 60 * DAY, batch, seller, g.new_account(START), 5_000 * TONNE, 5_000)
    assert rules_of(reference_alerts(g))["velocity"] == 0
