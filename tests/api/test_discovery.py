"""Needs-based discovery over HTTP: the listings that fit a stated need, in the buyer's orders only, and the
combinations that fill it; what deals already hold is not offered again; bad needs are refused by name."""

import time

import pytest

from node.devflows import bought, deposit, error_of, issued_batch

T = 1_000_000  # grams per tonne


@pytest.fixture(scope="module")
def listings(node) -> dict[str, int]:
    """Four listings: two park projects in Guangdong, a Guangdong wetland, a Shanghai park."""
    assert deposit(node, "park", amount_fen=10_000_000).status_code == 201
    now = int(time.time())
    made = {}
    for name, profile, quantity, price, min_lot in (
        ("sz_park", {"name": "深圳湾公园", "region": "CN-GD-SZ", "kind": "park"}, 4 * T, "50.00", T),
        ("gz_park", {"name": "越秀公园", "region": "CN-GD-GZ", "kind": "park"}, 10 * T, "40.00", 3 * T),
        ("gd_wetland", {"name": "华侨城湿地", "region": "CN-GD-SZ", "kind": "wetland"}, 20 * T, "30.00", T),
        ("sh_park", {"name": "世纪公园", "region": "CN-SH", "kind": "park"}, 20 * T, "10.00", T),
    ):
        _, batch = issued_batch(node, profile=profile)
        body = {"batch_id": batch, "quantity": quantity, "price": price, "min_lot": min_lot,
                "valid_from": now - 60, "valid_until": now + 30 * 86_400, "title": profile["name"],
                "description": "Verified urban green-space sink."}  # fmt: skip
        made[name] = node.ok("POST", "/v1/listings", "park", json=body)["id"]
    return made


def test_the_fitting_listings_and_a_fill_in_the_buyers_order(node, listings):
    need = {"quantity": 12 * T, "region": "CN-GD", "kind": "park", "order": ["price", "-quantity"]}
    found = node.ok("GET", "/v1/discovery", params=need)
    assert found["fitting"] == 2 and found["fitting_quantity"] == 14 * T
    assert [item["id"] for item in found["listings"]] == [listings["gz_park"], listings["sz_park"]]  # cheaper first
    assert all(item["available"] == item["quantity"] for item in found["listings"])
    by_price, by_quantity = found["combinations"]
    assert by_price["order"] == [{"by": "price", "descending": False}]
    assert [(p["listing_id"], p["quantity"]) for p in by_price["parts"]] == [(listings["gz_park"], 10 * T),
                                                                             (listings["sz_park"], 2 * T)]  # fmt: skip
    assert by_price["cost_cny"] == "500.00" and by_price["average_price_cny_per_tonne"] == "41.67"
    assert by_price["covers"] and by_price["within_budget"] and by_price["surplus"] == 0
    assert by_price["regions"] == ["CN-GD-GZ", "CN-GD-SZ"]
    assert by_quantity["order"] == [{"by": "quantity", "descending": True}]
    assert "不推荐" in found["notice"]["zh"] and "does not rate, recommend, price or match" in found["notice"]["en"]


def test_budget_minimum_lots_and_a_need_nothing_fills(node, listings):
    found = node.ok("GET", "/v1/discovery", params={"quantity": 11 * T, "region": "CN-GD-GZ", "budget": "399.99"})
    (only,) = found["combinations"]
    assert [(p["listing_id"], p["quantity"]) for p in only["parts"]] == [(listings["gz_park"], 10 * T)]
    assert not only["covers"] and not only["within_budget"]  # 10 t for 400.00 and still 1 t short
    found = node.ok("GET", "/v1/discovery", params={"quantity": T, "region": "CN-GD-GZ"})
    (only,) = found["combinations"]
    assert only["quantity"] == 3 * T and only["surplus"] == 2 * T  # its minimum lot is 3 t
    nothing = node.ok("GET", "/v1/discovery", params={"quantity": T, "region": "CN-XZ"})
    assert nothing["fitting"] == 0 and nothing["listings"] == []
    assert nothing["combinations"][0]["parts"] == [] and not nothing["combinations"][0]["covers"]
    assert nothing["combinations"][0]["average_price_cny_per_tonne"] is None


def test_what_a_deal_holds_is_not_offered_again(node, listings):
    bought(node, listings["sh_park"], 15 * T, price="10.00", deliver=False)  # accepted and paid, not delivered
    found = node.ok("GET", "/v1/discovery", params={"quantity": 10 * T, "region": "CN-SH"})
    assert [item["available"] for item in found["listings"]] == [5 * T]
    assert found["combinations"][0]["quantity"] == 5 * T and not found["combinations"][0]["covers"]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"quantity": 0},
        {"quantity": T, "order": "popularity"},
        {"quantity": T, "order": "price,price"},
        {"quantity": T, "region": "guangdong"},
        {"quantity": T, "kind": "forest"},
        {"quantity": T, "vintage_from": 2025, "vintage_to": 2024},
        {"quantity": T, "budget": "-1"},
        {"quantity": T, "max_price": "1e3"},
    ],
)
def test_a_need_that_makes_no_sense_is_refused_by_name(node, listings, params):
    assert error_of(node.call("GET", "/v1/discovery", params=params)) == (422, "validation_error")
