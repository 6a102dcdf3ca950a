"""Needs-based discovery over HTTP: the listings that fit a stated need, in the buyer's orders only, and the
combinations that fill it; what deals already hold is not offered again; bad needs are refused by name. Saved
needs: each new listing that fits is noticed once, only for its owner."""

import time
from collections.abc import Iterator

import pytest

from node.devflows import bought, deposit, error_of, issued_batch
from node.devnode import LocalNode, local_node
from node.market.saved_needs import SAVED_PER_ACCOUNT
from tests.api.test_browser import csp_violations, phone_page

T = 1_000_000  # grams per tonne


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNode]:
    """The node, checking saved needs five times a second rather than every five seconds."""
    with local_node(tmp_path_factory.mktemp("node"), need_check_s=0.2) as handle:
        yield handle


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


def _list(node, region: str, kind: str, *, opens_in: int = -60) -> int:
    _, batch = issued_batch(node, profile={"name": f"{region} {kind}", "region": region, "kind": kind})
    now = int(time.time())
    body = {"batch_id": batch, "quantity": 6 * T, "price": "20.00", "min_lot": T, "valid_from": now + opens_in,
            "valid_until": now + 30 * 86_400, "title": f"{region} {kind}", "description": "-"}  # fmt: skip
    return node.ok("POST", "/v1/listings", "park", json=body)["id"]


def _noticed(node, need_id: int, until: int | None = None, timeout_s: float = 20.0) -> list[int]:
    """The listings noticed for the need, once `until` is among them (or at the timeout)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = [n["listing_id"] for n in node.ok("GET", f"/v1/needs/{need_id}", "buyer")["notices"]]
        if until is None or until in found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_a_saved_need_notices_each_new_listing_that_fits_once(node, listings):
    saved = node.ok("POST", "/v1/needs", "buyer", json={"label": "湿地 5 吨", "quantity": 5 * T,
                                                         "regions": ["CN-GD"], "kinds": ["wetland"]})  # fmt: skip
    assert saved["need"]["regions"] == ["CN-GD"] and saved["notices"] == [] and saved["new_listings"] == 0
    fits = _list(node, "CN-GD-FS", "wetland")
    _list(node, "CN-SH", "wetland")  # another region
    _list(node, "CN-GD-FS", "park")  # another kind
    opens_later = _list(node, "CN-GD-ZH", "wetland", opens_in=3)
    assert _noticed(node, saved["id"], until=fits) == [fits]  # not gd_wetland, listed before the need was saved
    assert _noticed(node, saved["id"], until=opens_later) == [opens_later, fits]  # noticed once it opened
    time.sleep(1.0)  # several more passes: nothing noticed twice
    again = node.ok("GET", f"/v1/needs/{saved['id']}", "buyer")
    assert again["new_listings"] == 2 and [n["listing_id"] for n in again["notices"]] == [opens_later, fits]
    notice = again["notices"][1]["listing"]
    assert notice["region"] == "CN-GD-FS" and notice["available"] == 6 * T and notice["listing"].endswith(f"/{fits}")
    assert [n["id"] for n in node.ok("GET", "/v1/needs", "buyer")] == [saved["id"]]
    assert node.call("DELETE", f"/v1/needs/{saved['id']}", "buyer").status_code == 204
    assert error_of(node.call("GET", f"/v1/needs/{saved['id']}", "buyer")) == (404, "not_found")
    assert node.ok("GET", "/v1/needs", "buyer") == []


def test_a_saved_need_is_its_owners_alone_and_bounded(node, listings):
    saved = node.ok("POST", "/v1/needs", "buyer", json={"label": "any", "quantity": T})
    for method in ("GET", "DELETE"):
        assert error_of(node.call(method, f"/v1/needs/{saved['id']}", "platform")) == (403, "forbidden")
    assert error_of(node.call("GET", f"/v1/needs/{saved['id']}")) == (401, "unauthenticated")
    assert node.ok("GET", "/v1/needs", "platform") == []
    for number in range(SAVED_PER_ACCOUNT - 1):
        node.ok("POST", "/v1/needs", "buyer", json={"label": f"need {number}", "quantity": T})
    refused = node.call("POST", "/v1/needs", "buyer", json={"label": "one too many", "quantity": T})
    assert error_of(refused) == (409, "too_many_saved_needs")
    assert len(node.ok("GET", "/v1/needs", "buyer")) == SAVED_PER_ACCOUNT
    for kept in node.ok("GET", "/v1/needs", "buyer"):
        assert node.call("DELETE", f"/v1/needs/{kept['id']}", "buyer").status_code == 204


@pytest.mark.parametrize(
    "body",
    [
        {"label": "", "quantity": T},
        {"label": "x", "quantity": 0},
        {"label": "x", "quantity": T, "regions": ["guangdong"]},
        {"label": "x", "quantity": T, "kinds": ["forest"]},
        {"label": "x", "quantity": T, "vintage_from": 2025, "vintage_to": 2024},
        {"label": "x", "quantity": T, "budget": "12.345"},
        {"label": "x", "quantity": T, "ranked_by": "platform"},
        {"label": "line\nbreak", "quantity": T},
    ],
)
def test_a_need_to_save_that_makes_no_sense_is_refused_and_nothing_is_kept(node, listings, body):
    before = node.ok("GET", "/v1/needs", "buyer")
    assert error_of(node.call("POST", "/v1/needs", "buyer", json=body)) == (422, "validation_error")
    assert node.ok("GET", "/v1/needs", "buyer") == before


def test_a_buyer_on_a_phone_states_a_need_and_reads_the_fill(node, listings, tmp_path):
    with phone_page() as (page, console):
        page.goto(f"{node.url}/market")
        page.get_by_role("link", name="按需找碳汇").click()
        page.wait_for_url("**/discover")
        page.fill("#tonnes", "12")
        page.fill("#region", "cn-gd-gz CN-GD-SZ")
        page.get_by_label("公园").check()
        page.select_option("#order2", "-quantity,price")
        page.get_by_role("button", name="查找").click()
        page.wait_for_url("**/discover?*")
        assert "不推荐" in page.locator("#notice").inner_text()
        assert page.locator("#fitting").inner_text() == "符合条件的挂牌 2 个，共 14 tCO2e。"
        first = page.locator("#combination-1")
        assert "报价从低到高" in first.locator("h2").inner_text()
        assert first.locator(".cost").inner_text() == "500.00"
        assert first.locator(".average").inner_text() == "41.67"
        assert first.locator(".covers").inner_text() == "是"
        links = first.locator("table.parts a").all_inner_texts()
        assert links == [f"#{listings['gz_park']}", f"#{listings['sz_park']}"]
        assert "可售数量从多到少" in page.locator("#combination-2 h2").inner_text()
        assert page.locator("#listings tr").count() == 3  # the header and two listings
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], width
        page.screenshot(path=tmp_path / "discover-zh-phone.png", full_page=True)
        # The form keeps what was asked; the other language answers the same need.
        assert page.input_value("#region") == "cn-gd-gz CN-GD-SZ" and page.get_by_label("公园").is_checked()
        page.get_by_text("English").click()
        page.wait_for_url("**lang=en*")
        assert "does not rate, recommend, price or match" in page.locator("#notice").inner_text()
        assert page.locator("#combination-1 .covers").inner_text() == "yes"
        page.goto(f"{node.url}/discover?tonnes=1&region=guangdong")
        assert "guangdong" in page.content() and page.locator("#combination-1").count() == 0
        assert csp_violations(console) == [], console
    assert (tmp_path / "discover-zh-phone.png").stat().st_size > 10_000


def test_the_discovery_page_refuses_a_need_that_makes_no_sense(node, listings):
    html = {"accept": "text/html"}
    for query in ("tonnes=abc", "tonnes=1&region=guangdong", "tonnes=1&vintage_from=2025&vintage_to=2024",
                  "tonnes=1&retire_by=2025-02-30", "tonnes=1&kind=forest", "tonnes=1&order=popularity"):  # fmt: skip
        answer = node.call("GET", f"/discover?{query}", headers=html)
        assert answer.status_code == 422, query
        assert "text/html" in answer.headers["content-type"], query
    assert node.call("GET", "/discover", headers=html).status_code == 200  # the empty form
