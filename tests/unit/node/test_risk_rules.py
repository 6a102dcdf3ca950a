"""Every risk rule: a history that must alert and a near miss at the edge of its threshold or window that
must not, written event by event through the real Applier into a real index."""

import pytest

from node.risk.config import load_rules
from node.risk.engine import Backing, RiskEngine, alert_key, report_identity
from tests.unit.node.risk_market import DAY, T0, TONNE, Market, account

A, B, C, D = (account(n) for n in (0xA, 0xB, 0xC, 0xD))
HOUR = 3_600


@pytest.fixture
def market(tmp_path):
    made: list[Market] = []

    def make() -> Market:
        m = Market(tmp_path / f"index{len(made)}.sqlite")
        for i, who in enumerate((A, B, C, D)):
            m.register(who, 10 + i, at=T0 - 200 * DAY)
        made.append(m)
        return m

    yield make
    for m in made:
        m.close()


def batches(m: Market, count: int, grams: int = 1_000 * TONNE, owner: str = A) -> list[int]:
    return [m.issue(100 + i, owner, grams) for i in range(count)]


def test_round_trip_within_seven_days_is_high_and_past_thirty_days_is_none(market):
    m = market()
    (b,) = batches(m, 1)
    m.transfer(b, A, B, 10 * TONNE, at=T0)
    m.transfer(b, B, A, 4 * TONNE, at=T0 + 6 * DAY)
    (alert,) = m.alerts("round_trip")
    assert alert["severity"] == "high" and set(alert["participants"]) == {A, B} and len(alert["evidence"]) == 2
    assert "回到原持有人" in alert["explanation_zh"] and "came back" in alert["explanation_en"]

    m = market()
    (b,) = batches(m, 1)
    m.transfer(b, A, B, 10 * TONNE, at=T0)
    m.transfer(b, B, A, 4 * TONNE, at=T0 + 10 * DAY)
    assert [a["severity"] for a in m.alerts("round_trip")] == ["medium"]

    m = market()
    b1, b2 = batches(m, 2)
    m.transfer(b1, A, B, 10 * TONNE, at=T0)
    m.transfer(b1, B, A, 4 * TONNE, at=T0 + 30 * DAY + 1)  # one second past the window
    m.transfer(b2, B, A, 4 * TONNE, at=T0 + DAY)  # another batch: not the same units
    assert m.alerts("round_trip") == []


def test_a_longer_cycle_on_one_batch_is_a_round_trip(market):
    m = market()
    (b,) = batches(m, 1)
    m.transfer(b, A, B, 10 * TONNE, at=T0)
    m.transfer(b, B, C, 8 * TONNE, at=T0 + DAY)
    m.transfer(b, C, A, 3 * TONNE, at=T0 + 2 * DAY)
    (alert,) = m.alerts("round_trip")
    assert alert["details"]["cycle_length"] == 3 and set(alert["participants"]) == {A, B, C}
    # Out of time order the units cannot have travelled: C→A before B→C is no cycle.
    m = market()
    (b,) = batches(m, 1)
    m.transfer(b, A, B, 10 * TONNE, at=T0)
    m.transfer(b, C, A, 3 * TONNE, at=T0 + DAY)
    m.transfer(b, B, C, 8 * TONNE, at=T0 + 2 * DAY)
    assert m.alerts("round_trip") == []


def test_a_wash_loop_within_one_batch_nets_to_nothing_and_a_two_percent_imbalance_does_not(market):
    m = market()
    (b,) = batches(m, 1)
    m.transfer(b, A, B, 10 * TONNE, at=T0)
    m.transfer(b, B, C, 10 * TONNE, at=T0 + 600)
    m.transfer(b, C, A, 10 * TONNE, at=T0 + 1_200)
    (alert,) = m.alerts("wash_loop")
    assert alert["details"]["window_s"] == HOUR and set(alert["participants"]) == {A, B, C}
    assert alert["severity"] == "high" and alert["details"]["batch_id"] == b

    m = market()
    (b,) = batches(m, 1)
    m.transfer(b, A, B, 10 * TONNE, at=T0)
    m.transfer(b, B, C, 10 * TONNE, at=T0 + 600)
    m.transfer(b, C, A, 98 * TONNE // 10, at=T0 + 1_200)  # 0.2 t net is 2 % of the mean deal
    assert m.alerts("wash_loop") == []

    m = market()
    (b,) = batches(m, 1)
    m.transfer(b, A, B, 10 * TONNE, at=T0)
    m.transfer(b, B, C, 10 * TONNE, at=T0 + 4 * DAY)
    m.transfer(b, C, A, 10 * TONNE, at=T0 + 7 * DAY + 1)  # the loop spans more than 7 days
    assert m.alerts("wash_loop") == []


def test_a_loop_across_unrelated_batches_is_no_wash_loop(market):
    m = market()
    b1, b2, b3 = batches(m, 3)
    m.transfer(b1, A, B, 10 * TONNE, at=T0)
    m.transfer(b2, B, C, 10 * TONNE, at=T0 + 600)
    m.transfer(b3, C, A, 10 * TONNE, at=T0 + 1_200)  # equal amounts by coincidence, other units each time
    assert m.alerts("wash_loop") == [] and m.alerts("round_trip") == []


def test_a_two_by_two_loop_alerts_on_the_deal_that_closes_it(market):
    """Netted over the smallest window holding the loop, ending at the closing deal: an earlier, unrelated
    imbalance between the members three days before does not delay the alert to a later deal."""
    m = market()
    (b,) = batches(m, 1)
    m.transfer(b, A, B, 20 * TONNE, at=T0 - 10 * DAY)
    m.transfer(b, B, A, 5 * TONNE, at=T0 - 3 * DAY)
    m.transfer(b, A, B, 10 * TONNE, at=T0)
    closing = m.transfer(b, B, A, 10 * TONNE, at=T0 + 30 * 60)
    (alert,) = m.alerts("wash_loop")
    assert alert["block_number"] == closing["block"] and alert["details"]["window_s"] == HOUR
    assert alert["details"]["trades"] == 2 and set(alert["participants"]) == {A, B}


def test_same_day_resale_is_judged_on_the_shanghai_calendar(market):
    m = market()
    (b,) = batches(m, 1)
    morning = T0 + 10 * HOUR  # 10:00 in Shanghai
    m.transfer(b, A, B, 5 * TONNE, at=morning)
    m.transfer(b, B, C, 2 * TONNE, at=morning + 13 * HOUR + 59 * 60)  # 23:59 in Shanghai
    assert len(m.alerts("same_day_resale")) == 1

    m = market()
    (b,) = batches(m, 1)
    m.transfer(b, A, B, 5 * TONNE, at=morning)
    m.transfer(b, B, C, 2 * TONNE, at=morning + 14 * HOUR)  # 00:00 the next day in Shanghai
    m.transfer(b, A, D, 5 * TONNE, at=morning + 15 * HOUR)
    m.transfer(b, D, C, TONNE - 1, at=morning + 16 * HOUR)  # under the 1 t floor
    assert m.alerts("same_day_resale") == []


def test_price_band_ten_percent_and_thirty_for_block_deals(market):
    m = market()
    (b,) = batches(m, 1, grams=10_000 * TONNE)
    m.transfer(b, A, B, TONNE, at=T0, price="50.00")
    notes = m.db.execute("SELECT note FROM risk_note WHERE rule = 'price_band'").fetchall()
    assert len(notes) == 1 and "no reference price" in notes[0][0], "said, not silently skipped"
    for hour in (1, 2):
        m.transfer(b, A, B, TONNE, at=T0 + hour * HOUR, price="50.00")
    m.transfer(b, A, C, TONNE, at=T0 + 3 * HOUR, price="54.90")  # +9.8 %
    assert m.alerts("price_band") == []
    m.transfer(b, A, C, TONNE, at=T0 + 4 * HOUR, price="44.00")  # about -12 %
    (alert,) = m.alerts("price_band")
    assert alert["details"]["band"] == 0.10 and alert["deals"] == [5]

    m = market()
    (b,) = batches(m, 1, grams=10_000 * TONNE)
    for hour in range(3):
        m.transfer(b, A, B, TONNE, at=T0 + hour * HOUR, price="50.00")
    m.transfer(b, A, C, 100 * TONNE, at=T0 + 3 * HOUR, price="64.00")  # a block deal, +28 %
    assert m.alerts("price_band") == []
    m.transfer(b, A, D, 100 * TONNE, at=T0 + 4 * HOUR, price="85.00")  # far outside even ±30 %
    assert [a["details"]["block"] for a in m.alerts("price_band")] == [True]


def test_a_zero_price_transfer_moves_no_reference_and_raises_no_price_band_alert(market):
    m = market()
    (b,) = batches(m, 1, grams=10_000 * TONNE)
    for hour in range(3):
        m.transfer(b, A, B, TONNE, at=T0 + hour * HOUR, price="50.00")
    m.transfer(b, A, C, 100 * TONNE, at=T0 + 3 * HOUR, price="0.00")  # a gift: far below any band
    m.transfer(b, A, C, 100 * TONNE, at=T0 + 4 * HOUR)  # no deal at all
    notes = m.db.execute("SELECT COUNT(*) FROM risk_note WHERE rule = 'price_band'").fetchone()[0]
    assert m.alerts("price_band") == [] and notes == 3, "neither judged nor noted"
    m.transfer(b, A, D, TONNE, at=T0 + 5 * HOUR, price="54.90")  # +9.8 % of 50.00: the reference did not move
    assert m.alerts("price_band") == []
    m.transfer(b, A, D, TONNE, at=T0 + 6 * HOUR, price="58.00")  # +13 % of 51.225
    (alert,) = m.alerts("price_band")
    # (3 × 50.00 + 54.90) / 4 t: the zero-price 200 t are in no reference
    assert alert["details"]["reference_fen"] == round((3 * 5_000 + 5_490) / 4)


def test_velocity_five_times_the_own_median_above_the_floor(market):
    def history(m: Market, weekly: int, now_count: int) -> None:
        (b,) = batches(m, 1, grams=100_000 * TONNE)
        now = T0 + 100 * DAY
        for week in range(12):
            for k in range(weekly):
                m.transfer(b, A, account(0x100 + week * 10 + k), TONNE, at=now - (12 - week) * 7 * DAY + k * HOUR)
        for k in range(now_count):
            m.transfer(b, A, account(0x900 + k), TONNE, at=now + k * HOUR)

    m = market()
    history(m, weekly=1, now_count=10)
    alerts = [a for a in m.alerts("velocity") if A in a["participants"]]
    assert len(alerts) == 1 and alerts[0]["details"]["count"] == 10 and alerts[0]["details"]["median_count"] == 1
    m = market()
    history(m, weekly=1, now_count=9)  # under the floor of 10
    assert [a for a in m.alerts("velocity") if A in a["participants"]] == []
    m = market()
    history(m, weekly=2, now_count=10)  # 10 is 5× the median of 2, not more
    assert [a for a in m.alerts("velocity") if A in a["participants"]] == []


def test_velocity_judges_no_account_younger_than_28_days_and_says_so(market):
    """The weeks before an account's first transfer are not quiet weeks of its own: no baseline, no alert."""

    def history(m: Market, days: int) -> None:
        (b,) = batches(m, 1, grams=100_000 * TONNE)
        for k in range(0, days, 3):  # one transfer every three days from its first: 7-day sums of 2 or 3
            m.transfer(b, A, B, TONNE, at=T0 + k * DAY)
        for k in range(30):
            m.transfer(b, B, account(0x900 + k), TONNE // 10, at=T0 + days * DAY + k * HOUR)

    m = market()
    history(m, 20)  # 20 days old
    assert [a for a in m.alerts("velocity") if B in a["participants"]] == []
    notes = m.db.execute("SELECT note FROM risk_note WHERE rule = 'velocity'").fetchall()
    assert notes and all("not judged" in n[0] for n in notes) and any(B in n[0] for n in notes)
    m = market()
    history(m, 28)  # the same burst 28 days after its first transfer is judged
    (alert,) = [a for a in m.alerts("velocity") if B in a["participants"]]
    assert alert["details"]["count"] > 5 * alert["details"]["median_count"] > 0


def test_velocity_without_a_baseline_is_not_judged(market):
    """An account that trades less than weekly has a median of 0: one large deal is not a burst."""
    m = market()
    (b,) = batches(m, 1, grams=100_000 * TONNE)
    m.transfer(b, A, B, TONNE, at=T0)
    m.transfer(b, A, B, 5_000 * TONNE, at=T0 + 60 * DAY)
    assert [a for a in m.alerts("velocity") if B in a["participants"]] == []


def test_counterparty_concentration_three_deals_and_half_the_volume(market):
    m = market()
    (b,) = batches(m, 1)
    for k, (who, tonnes) in enumerate(((B, 2), (C, 2), (B, 2), (C, 2), (B, 2))):
        m.transfer(b, A, who, tonnes * TONNE, at=T0 + k * DAY)
    alerts = [a for a in m.alerts("counterparty_concentration") if a["participants"] == sorted([A, B])]
    assert len(alerts) == 1 and alerts[0]["details"]["share"] == 0.6

    m = market()
    (b,) = batches(m, 1)
    for k, (who, tonnes) in enumerate(((B, 49), (C, 51), (B, 1), (D, 1), (B, 1))):  # B: 51 of 103 t
        m.transfer(b, A, who, tonnes * TONNE // 10, at=T0 + k * DAY)
    assert [a for a in m.alerts("counterparty_concentration") if A in a["participants"]] == []


def test_a_new_account_above_the_95th_percentile(market):
    def history(m: Market, registered_days_ago: int, tonnes: int, ledger_days: int = 60) -> str:
        (b,) = batches(m, 1, grams=100_000 * TONNE)
        m.transfer(b, A, account(0x1FF), TONNE, at=T0 - ledger_days * DAY)  # the ledger's first transfer
        for n in range(30):  # thirty established accounts, 1..30 t each over the past weeks
            m.transfer(b, A, account(0x200 + n), (n + 1) * TONNE, at=T0 - 20 * DAY + n * HOUR)
        newcomer = account(0x999)
        m.register(newcomer, 77, at=T0 - registered_days_ago * DAY)
        m.transfer(b, A, newcomer, tonnes * TONNE, at=T0 + HOUR)
        return newcomer

    m = market()
    newcomer = history(m, registered_days_ago=5, tonnes=40)
    assert [a["participants"] for a in m.alerts("new_account_volume")] == [[newcomer]]
    m = market()
    history(m, registered_days_ago=31, tonnes=40)  # not new any more
    assert m.alerts("new_account_volume") == []
    m = market()
    history(m, registered_days_ago=5, tonnes=28)  # below the 95th percentile (about 29.6 t)
    assert m.alerts("new_account_volume") == []
    m = market()
    history(m, registered_days_ago=5, tonnes=40, ledger_days=29)  # the ledger's first 30 days: not judged
    assert m.alerts("new_account_volume") == []


def test_related_parties_at_a_price_are_medium_high_off_the_band_or_returning(market):
    m = market()
    (b,) = batches(m, 1)
    x, y = account(0x51), account(0x52)
    m.register(x, 42, at=T0 - 100 * DAY)
    m.register(y, 42, at=T0 - 100 * DAY)
    m.transfer(b, A, x, 100 * TONNE, at=T0)
    m.transfer(b, x, y, 5 * TONNE, at=T0 + DAY, price="50.00")  # no reference yet
    (alert,) = m.alerts("related_parties")
    assert alert["details"]["organisation"] == 42 and alert["severity"] == "medium"
    for hour in range(3):
        m.transfer(b, A, B, TONNE, at=T0 + 2 * DAY + hour * HOUR, price="50.00")
    m.transfer(b, x, y, 5 * TONNE, at=T0 + 3 * DAY, price="52.00")  # within the band
    m.transfer(b, x, y, 5 * TONNE, at=T0 + 4 * DAY, price="70.00")  # off the band
    assert [a["severity"] for a in m.alerts("related_parties")] == ["medium", "medium", "high"]
    m.transfer(b, y, x, 5 * TONNE, at=T0 + 5 * DAY, price="50.00")  # the units come back
    last = m.alerts("related_parties")[-1]
    assert last["severity"] == "high" and last["details"]["returned"] is True
    m.transfer(b, x, B, TONNE, at=T0 + 6 * DAY, price="50.00")  # another organisation
    assert len(m.alerts("related_parties")) == 4


def test_an_intra_group_transfer_at_price_0_is_a_low_disclosure(market):
    m = market()
    (b,) = batches(m, 1)
    x, y = account(0x51), account(0x52)
    m.register(x, 42, at=T0 - 100 * DAY)
    m.register(y, 42, at=T0 - 100 * DAY)
    m.transfer(b, A, x, 100 * TONNE, at=T0)
    m.transfer(b, x, y, 5 * TONNE, at=T0 + DAY, price="0.00")  # a free internal move
    m.transfer(b, x, y, 5 * TONNE, at=T0 + 2 * DAY)  # no deal
    m.transfer(b, x, B, 5 * TONNE, at=T0 + 3 * DAY)  # to another organisation: nothing to disclose
    alerts = m.alerts("intra_group_transfer")
    assert [a["severity"] for a in alerts] == ["low", "low"] and all(a["participants"] == [x, y] for a in alerts)
    assert m.alerts("related_parties") == [] and m.alerts("price_band") == []


def test_disguised_financing_buy_back_and_receipt_mismatch(market):
    m = market()
    (b,) = batches(m, 1)
    m.transfer(b, A, B, 10 * TONNE, at=T0, price="50.00")
    m.transfer(b, B, A, 10 * TONNE, at=T0 + 40 * DAY, price="55.00")  # bought back 10 % dearer
    (alert,) = m.alerts("disguised_financing")
    assert alert["details"]["kind"] == "buy_back" and alert["deals"] == [1, 2]

    m = market()
    (b,) = batches(m, 1)
    m.transfer(b, A, B, 10 * TONNE, at=T0, price="50.00")
    m.transfer(b, B, A, 5 * TONNE, at=T0 + 40 * DAY, price="45.00")  # cheaper: no interest
    m.transfer(b, B, A, 5 * TONNE, at=T0 + 90 * DAY + 1, price="55.00")  # past 90 days
    assert m.alerts("disguised_financing") == []

    m = market()
    (b,) = batches(m, 1)
    m.transfer(b, A, B, 10 * TONNE, at=T0, price="50.00", receipt_fen=50_000)  # exact
    m.transfer(b, A, B, 10 * TONNE, at=T0 + HOUR, price="50.00", receipt_fen=50_001)  # 0.01 CNY off
    m.transfer(b, A, C, 10 * TONNE, at=T0 + DAY, price="50.00", receipt_fen=50_100)  # 1 CNY off
    off_by_a_fen, off_by_a_yuan = m.alerts("disguised_financing")
    assert off_by_a_fen["details"] == {"kind": "receipt_mismatch", "receipt_fen": 50_001, "due_fen": 50_000}
    assert off_by_a_fen["severity"] == "medium" and off_by_a_yuan["severity"] == "high"


def test_a_receipt_is_compared_with_the_shared_total_rounded_half_up(market):
    m = market()
    (b,) = batches(m, 1)
    # 50.01 CNY/t × 1.5 t = 7,501.5 fen: the total is 7,502 fen, half up (deal_total_fen)
    m.transfer(b, A, B, 1_500_000, at=T0, price="50.01", receipt_fen=7_502)
    assert m.alerts("disguised_financing") == []
    m.transfer(b, A, B, 1_500_000, at=T0 + HOUR, price="50.01", receipt_fen=7_501)
    (alert,) = m.alerts("disguised_financing")
    assert alert["details"]["due_fen"] == 7_502


def test_holding_concentration_is_a_share_of_one_batch_among_many_projects(market):
    m = market()
    owners = [account(0x300 + i) for i in range(10)]
    made = [m.issue(200 + i, owners[i], 100 * TONNE) for i in range(10)]  # one vintage, ten projects
    assert m.alerts("holding_concentration") == [], "an owner's own issuance is not an acquisition"
    m.transfer(made[0], owners[0], B, 15 * TONNE, at=T0)  # 15 % of one batch, 1.5 % of the vintage
    (alert,) = m.alerts("holding_concentration")
    assert alert["participants"] == [B] and alert["details"]["share"] == 0.15
    assert alert["details"]["batch_id"] == made[0]
    m.transfer(made[1], owners[1], C, 99 * TONNE // 10, at=T0 + 1)  # 9.9 %
    m.transfer(made[2], owners[2], C, 9 * TONNE, at=T0 + 2)  # 9 % of another batch: no sum across batches
    assert len(m.alerts("holding_concentration")) == 1
    m.transfer(made[1], owners[1], C, TONNE // 10, at=T0 + 3)  # 10 %: half of the 20 % cap
    assert [a["participants"] for a in m.alerts("holding_concentration")] == [[B], [C]]
    m.transfer(made[1], owners[1], B, 20 * TONNE, at=T0 + 4)  # B again, another batch: its own alert
    m.transfer(made[1], B, owners[1], 20 * TONNE, at=T0 + 5)  # the owner is not judged
    m.transfer(made[0], owners[0], B, TONNE, at=T0 + 6)  # B's batch 0 alert is raised already
    assert len(m.alerts("holding_concentration")) == 3


def test_ecological_loss_against_the_previous_period(market):
    m = market()
    m.issue(300, A, 50 * TONNE, stock=(1_000 * TONNE, 1_100 * TONNE))
    m.issue(300, A, 40 * TONNE, index=2, stock=(1_100 * TONNE, 1_099 * TONNE + 1), vintage_end=T0 + 300 * DAY)
    assert m.alerts("ecological_loss") == [], "a loss just under 1 t"
    m.issue(300, A, 40 * TONNE, index=3, stock=(1_099 * TONNE, 1_050 * TONNE), vintage_end=T0 + 600 * DAY)
    (alert,) = m.alerts("ecological_loss")
    loss = 1_099 * TONNE + 1 - 1_050 * TONNE
    assert alert["details"]["loss_grams"] == loss and alert["details"]["proposed_reversal"]["amount"] == loss
    # Keyed by its monitoring report, as the node keys the alert it raises when the report is uploaded.
    root = "0x" + f"{(300 << 32) | 3:064x}"
    assert (
        alert["key"]
        == alert_key("ecological_loss", report_identity(root))
        == alert_key("ecological_loss", report_identity(root.upper().replace("0X", "0x")))
    )


def test_issuance_not_backed_by_the_nodes_report_or_of_its_organisation_without_one(market):
    m = market()
    m.facts.own_organisation = 12  # C's organisation
    root = "0x" + f"{(400 << 32) | 1:064x}"
    m.facts.backings[root] = Backing(400, 50 * TONNE)
    m.issue(400, A, 50 * TONNE)
    assert m.alerts("issuance_not_backed") == [], "issued what the node's report computes"
    m.facts.backings["0x" + f"{(401 << 32) | 1:064x}"] = Backing(401, 50 * TONNE)
    m.issue(401, A, 50 * TONNE + 1)
    (differs,) = m.alerts("issuance_not_backed")
    assert differs["severity"] == "high" and A in differs["participants"]
    assert differs["details"] | {"evidence_root": None} == {
        "batch_id": (401 << 32) | 1, "project_id": 401, "evidence_root": None, "state": "differs",
        "issued_grams": 50 * TONNE + 1, "computed_grams": 50 * TONNE, "report_project_id": 401}  # fmt: skip
    assert "不符" in differs["explanation_zh"] and "not the computed one" in differs["explanation_en"]
    # A report of another project behind the root is no backing either.
    m.facts.backings["0x" + f"{(402 << 32) | 1:064x}"] = Backing(999, 50 * TONNE)
    m.issue(402, A, 50 * TONNE)
    assert m.alerts("issuance_not_backed")[-1]["details"]["report_project_id"] == 999
    # No report: another organisation's project is not this node's business; its own organisation's is.
    m.issue(403, B, 50 * TONNE)
    assert len(m.alerts("issuance_not_backed")) == 2
    m.issue(404, C, 50 * TONNE)
    own = m.alerts("issuance_not_backed")[-1]
    assert own["details"]["state"] == "no_report" and own["details"]["computed_grams"] is None
    assert C in own["participants"] and "本节点所属组织" in own["explanation_zh"]
    assert own["key"] == alert_key("issuance_not_backed", f"batch:{(404 << 32) | 1}")


def test_issuance_not_backed_needs_the_nodes_facts():
    """Without facts (a bare engine) nothing is known of reports or of the node: no alert."""
    engine = RiskEngine()
    engine.observe("ParticipantRegistered", {"account": A, "organisation": 1, "roles": 0, "admin": B}, 1, 0, "0x", 0)
    engine.observe("BatchIssued", {
        "batchId": 1, "projectId": 1, "verifier": B, "issuer": C, "owner": A, "bufferAccount": D,
        "periodStart": 0, "periodEnd": DAY, "quantity": 10, "bufferAmount": 1, "evidenceRoot": "0x" + "01" * 32,
        "methodologyId": "0x" + "11" * 32, "verificationDigest": "0x" + "22" * 32}, 2, 0, "0x", DAY)  # fmt: skip
    assert engine.take() == ([], [])


def test_the_configuration_documents_every_rule():
    rules = load_rules()
    assert len(rules) == 14
    for name, rule in rules.items():
        assert rule["meaning"] and rule["source"] and rule["severity"] in ("low", "medium", "high"), name
