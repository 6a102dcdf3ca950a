"""The site a person uses: the home page with live totals and one search box, HTML error pages for
browsers (JSON still for API clients), the layout on a phone and a desktop in both languages, and every
link on a page answering."""

import csv
import io
import re
from datetime import datetime
from urllib.parse import urlsplit

import pytest
from eth_account import Account
from playwright.sync_api import sync_playwright

from node.api.labels import LABELS
from node.demo import CAST
from node.devflows import bought, deposit, error_of, issued_batch, listing_for
from node.settings import PROJECT_ROOT
from registry.units import format_co2e, vintage_of
from tests.api.test_browser import CHROMIUM_ARGS, csp_violations, decode_qr
from tests.api.test_offsets import orders

PAGE = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}  # as a browser asks
PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def market(node):
    """A batch, a transfer, a retirement with a beneficiary and a logistics offset (an order id to search)."""
    project, batch = issued_batch(node)
    for holder in ("buyer", "platform"):
        moved = {"batch_id": batch, "to": node.addresses[holder], "amount": 10**8}
        node.ok("POST", "/v1/transfers", "park", json=moved)
    retired = node.ok("POST", "/v1/retirements", "buyer", json={
        "batch_id": batch, "amount": 1_210, "beneficiary": "杭州快递有限公司", "reason": "配送碳中和",
        "consumption_start": 1_700_000_000, "consumption_end": 1_710_000_000, "region": "CN-ZJ"})  # fmt: skip
    offset = node.ok("POST", "/v1/offsets/logistics", "platform", json={"orders": orders(3, "SITE"), "region": "CN-ZJ"})
    assert deposit(node, "park").status_code == 201
    listing = node.ok("POST", "/v1/listings", "park", json=listing_for(batch, 10**7, title="滨江公园 2025 年度碳汇"))
    return {
        "listing": listing["id"],
        "project": project,
        "batch": batch,
        "retirement": retired["result"]["retirement_id"],
        "tx": retired["tx_hash"],
        "order": "SITE-000001",
        "offset": offset,
    }


def test_the_home_page_shows_the_registry_live(node, market):
    totals = node.ok("GET", "/v1/registry/batches", params={"limit": 500})
    issued = sum(b["quantity"] for b in totals)
    retired = sum(b["retired"] for b in totals)
    html = node.call("GET", "/", headers=PAGE)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert re.search(r'id="total-issued">([^<]+)<', html.text)[1] == format_co2e(issued)
    assert re.search(r'id="total-retired">([^<]+)<', html.text)[1] == format_co2e(retired)
    latest = re.search(r'<table class="records" id="latest-retirements">(.*?)</table>', html.text, re.S)[1]
    assert f'href="/retirements/{market["retirement"]}"' in latest and "1.21 kgCO2e" in latest
    assert "杭州快递有限公司" in latest
    english = node.call("GET", "/", params={"lang": "en"}).text
    assert LABELS["en"]["home_title"] in english and 'href="/retirements/' in english
    assert 'href="/batches/' in english and "?lang=en" in english  # links keep the language


def test_one_search_box_finds_serials_retirements_transactions_and_orders(node, market):
    project, batch = market["project"], market["batch"]
    for query, target in [
        (f"SL-{project}-1", f"/batches/{batch}"),
        (f" sl-{project}-1-42 ", f"/batches/{batch}"),  # one unit's serial, any case, stray spaces
        (f"#{market['retirement']}", f"/retirements/{market['retirement']}"),
        (str(market["retirement"]), f"/retirements/{market['retirement']}"),
        (market["tx"], f"/retirements/{market['retirement']}"),
        (market["tx"].upper().replace("0X", "0x"), f"/retirements/{market['retirement']}"),
        (market["order"], f"/offsets/orders/{market['order']}"),
    ]:
        reply = node.call("GET", "/search", params={"q": query}, headers=PAGE)
        assert reply.status_code == 303, (query, reply.status_code)
        assert reply.headers["location"] == target, query
        assert node.call("GET", target).status_code == 200
    english = node.call("GET", "/search", params={"q": f"SL-{project}-1", "lang": "en"})
    assert english.headers["location"] == f"/batches/{batch}?lang=en"
    for nothing in ("SL-999999-1", "#999999", "0x" + "ab" * 32, "no such order", "<script>x</script>"):
        reply = node.call("GET", "/search", params={"q": nothing}, headers=PAGE)
        assert reply.status_code == 404 and 'id="nothing"' in reply.text, nothing
        assert "<script>x</script>" not in reply.text  # the query is shown escaped
    assert node.call("GET", "/search", params={"q": "x" * 201}).status_code == 422
    empty = node.call("GET", "/search", headers=PAGE)
    assert empty.status_code == 200 and 'id="nothing"' not in empty.text


def test_a_project_page_leads_to_the_rest_of_its_listings(node, market, monkeypatch):
    import node.api.routes.pages as pages

    monkeypatch.setattr(pages, "PROJECT_LISTINGS", 0)
    html = node.call("GET", f"/projects/{market['project']}", params={"lang": "en"}).text
    more = re.search(r'id="more-listings" href="([^"]+)"', html)[1].replace("&amp;", "&")
    assert more == f"/market?project_id={market['project']}&lang=en"
    found = node.call("GET", more).text
    assert f'href="/listings/{market["listing"]}?lang=en"' in found
    others = node.call("GET", "/market", params={"project_id": "999999"}).text
    assert 'id="nothing"' in others


def test_a_project_page_shows_its_profile_batches_listings_and_review(node, market):
    project, batch = market["project"], market["batch"]
    html = node.call("GET", f"/projects/{project}", headers=PAGE).text
    batches = re.search(r'<table class="records" id="batches">(.*?)</table>', html, re.S)[1]
    assert f'href="/batches/{batch}"' in batches and f"SL-{project}-1" in batches
    record = node.ok("GET", f"/v1/batches/{batch}")
    assert format_co2e(record["quantity"]) in batches and "SL-GS-001/1.1" in batches
    assert node.addresses["park"].lower() in html
    assert 'id="review" data-state="approved"' in html
    listings = re.search(r'<table class="records" id="listings">(.*?)</table>', html, re.S)[1]
    assert f'href="/listings/{market["listing"]}"' in listings and "10 tCO2e" in listings
    english = node.call("GET", f"/projects/{project}", params={"lang": "en"}).text
    assert "Batches" in english and f'href="/batches/{batch}?lang=en"' in english
    # The batch page names both sides of a movement and links to its project and its retirements.
    page = node.call("GET", f"/batches/{batch}", params={"lang": "en"}).text
    assert f'href="/projects/{project}?lang=en"' in page
    assert f'id="listings-link" href="/market?project_id={project}&amp;lang=en"' in page
    assert f'href="/batches/{batch}?lang=en#verification"' in english  # each batch's evidence, from the project
    listing = node.call("GET", f"/listings/{market['listing']}").text
    assert f'id="attestation-page" href="/batches/{batch}#verification"' in listing
    moved = re.findall(r'<tr data-event="CertificateTransferred">(.*?)</tr>', page, re.S)
    buyer = node.addresses["buyer"].lower()
    assert any(f'title="{buyer}"' in row for row in moved)
    retired = re.search(r'<tr data-event="CertificateRetired">(.*?)</tr>', page, re.S)[1]
    assert f'href="/retirements/{market["retirement"]}?lang=en"' in retired and "1.21 kgCO2e" in retired
    assert node.call("GET", "/projects/999999", headers=PAGE).status_code == 404


def test_the_registry_pages_through_projects_and_batches_with_filters(node, market, monkeypatch):
    import node.api.routes.pages as pages

    project, batch = market["project"], market["batch"]
    projects = node.call("GET", "/registry", headers=PAGE).text
    assert f'href="/projects/{project}"' in projects
    vintage = vintage_of(node.ok("GET", f"/v1/batches/{batch}")["period_end"])
    batches = node.call("GET", "/registry", params={"view": "batches", "vintage": vintage}).text
    assert f'href="/batches/{batch}"' in batches
    none = node.call("GET", "/registry", params={"view": "batches", "vintage": vintage + 50}).text
    assert 'id="nothing"' in none and 'href="/batches/' not in none
    revoked = node.call("GET", "/registry", params={"view": "batches", "status": "revoked"}).text
    assert f'href="/batches/{batch}"' not in revoked
    # Pages of one row: each links to the next, the filters kept, until the last.
    monkeypatch.setattr(pages, "REGISTRY_PAGE", 1)
    seen, url = [], "/registry?view=batches&lang=en"
    for _ in range(1000):
        html = node.call("GET", url).text
        seen += re.findall(r'<a href="/batches/(\d+)\?lang=en">', html)
        following = re.search(r'id="next" href="([^"]+)"', html)
        if following is None:
            break
        url = following[1].replace("&amp;", "&")
        assert "view=batches" in url and "lang=en" in url
    listed = node.ok("GET", "/v1/registry/batches", params={"limit": 5000})
    assert seen == [str(b["id"]) for b in listed]
    assert node.call("GET", "/registry", params={"view": "nothing"}, headers=PAGE).status_code == 422


def test_a_listing_page_says_what_is_left_after_a_delivery_in_the_page_language(node, market):
    project, batch = issued_batch(node)
    listing = node.ok("POST", "/v1/listings", "park", json=listing_for(batch, 20_000_000, title="滨江公园碳汇"))
    bought(node, listing["id"], 5_000_000)
    html = node.call("GET", f"/listings/{listing['id']}", headers=PAGE).text
    figures = dict(re.findall(r'id="(quantity|delivered|remaining)" data-grams="(\d+)">', html))
    assert figures == {"quantity": "20000000", "delivered": "5000000", "remaining": "15000000"}
    assert 'id="remaining" data-grams="15000000">15 tCO2e<' in html
    status = re.search(r'<div class="banner [a-z]+" id="status" data-status="([a-z_]+)">([^<]+)<', html)
    assert status[2].startswith(LABELS["zh"]["status"]) and "open" not in status[2]
    assert f'href="/batches/{batch}"' in html and f'href="/projects/{project}"' in html
    english = node.call("GET", f"/listings/{listing['id']}", params={"lang": "en"}).text
    assert LABELS["en"]["remaining"] in english and LABELS["zh"]["remaining"] not in english


def test_buyers_search_open_listings_with_the_forms_blank_fields_ignored(node, market):
    listing = node.ok("GET", f"/v1/listings/{market['listing']}")
    blank = {"region": "", "kind": "", "vintage": "", "verifier": "", "min_tonnes": "", "min_price": "",
             "max_price": "", "sort": "newest"}  # fmt: skip
    html = node.call("GET", "/market", params=blank, headers=PAGE)
    assert html.status_code == 200 and f'href="/listings/{listing["id"]}"' in html.text
    price = listing["price_cny_per_tonne"]
    for found, params in [
        (True, {"max_price": price, "min_price": price}),
        (False, {"min_price": f"{float(price) + 0.01:.2f}"}),
        (True, {"min_tonnes": "10", "vintage": str(listing["vintage"])}),
        (False, {"min_tonnes": "10.000001"}),
        (True, {"verifier": listing["batch"]["verifier"]}),
        (False, {"kind": "wetland"}),
        (False, {"region": "cn-xj"}),
    ]:
        text = node.call("GET", "/market", params={**blank, **params}).text
        assert (f'href="/listings/{listing["id"]}"' in text) is found, params
    assert 'id="nothing"' in node.call("GET", "/market", params={"min_price": "999999999"}).text
    for bad in ({"vintage": "abc"}, {"min_tonnes": "1.0000001"}, {"sort": "seller"}):
        reply = node.call("GET", "/market", params=bad, headers=PAGE)
        assert reply.status_code == 422 and 'data-code="validation_error"' in reply.text, bad


def test_an_empty_blacklist_and_no_price_statistics_say_so(node):
    assert node.ok("GET", "/v1/market/prices") == []
    assert 'id="nothing"' in node.call("GET", "/prices").text
    assert node.ok("GET", "/v1/blacklist") == []
    zh = node.call("GET", "/blacklist").text
    assert 'id="empty"' in zh and LABELS["zh"]["blacklist_empty"] in zh and "<table" not in zh
    assert LABELS["en"]["blacklist_empty"] in node.call("GET", "/blacklist", params={"lang": "en"}).text


def test_csv_downloads_carry_units_times_and_regions_a_spreadsheet_reads(node, market):
    reply = node.call("GET", "/v1/registry/retirements", params={"format": "csv"})
    assert reply.content.startswith(b"\xef\xbb\xbf")  # the UTF-8 byte-order mark
    rows = list(csv.DictReader(io.StringIO(reply.content.decode("utf-8-sig"))))
    ours = next(row for row in rows if row["id"] == str(market["retirement"]))
    assert ours["amount (gCO2e)"] == "1210" and ours["region"] == "CN-ZJ"
    assert ours["beneficiary"] == "杭州快递有限公司"
    assert ours["block_time (ISO 8601)"].endswith("+08:00")
    assert datetime.fromisoformat(ours["consumption_start (ISO 8601)"]).timestamp() == 1_700_000_000
    batches = node.call("GET", "/v1/registry/batches", params={"format": "csv"}).content.decode("utf-8-sig")
    header = next(csv.reader(io.StringIO(batches)))
    units = {"quantity (gCO2e)", "outstanding (gCO2e)", "period_end (ISO 8601)", "buffer_share_bps (basis points)"}
    assert units <= set(header)
    # No row at all: still the header, so a spreadsheet or a script knows the columns.
    empty = node.call("GET", "/v1/registry/retirements", params={"format": "csv", "batch_id": 999_999})
    columns = next(csv.reader(io.StringIO(reply.content.decode("utf-8-sig"))))
    assert list(csv.reader(io.StringIO(empty.content.decode("utf-8-sig")))) == [columns]


def test_pages_name_participants_by_display_name_or_by_organisation(node, market):
    batch = market["batch"]
    page = node.call("GET", f"/batches/{batch}", params={"lang": "en"}).text
    moved = " ".join(re.findall(r'<tr data-event="CertificateTransferred">(.*?)</tr>', page, re.S))
    assert CAST["buyer"][2] in moved and CAST["park"][2] in moved  # the names the administrator gave them
    # An account registered without a name: its address and the organisation the ledger gives it.
    stranger = Account.create().address
    node.ok("POST", "/v1/admin/participants", "admin", json={"account": stranger, "organisation": 77, "roles": 0})
    node.ok("POST", "/v1/transfers", "park", json={"batch_id": batch, "to": stranger, "amount": 1_000})
    page = node.call("GET", f"/batches/{batch}", params={"lang": "en"}).text
    row = re.findall(r'<tr data-event="CertificateTransferred">(.*?)</tr>', page, re.S)[-1]
    assert f'title="{stranger.lower()}"' in row and "(organisation 77)" in row
    zh = node.call("GET", f"/batches/{batch}").text
    assert "(组织 77)" in zh
    # A display name is public text: the wording and control-character rules apply, and nothing is sent.
    for name, code in (("保本保息碳汇基金", "financial_wording"), ("Acme\u202eCo", "validation_error")):
        body = {"account": Account.create().address, "organisation": 78, "roles": 0, "display_name": name}
        reply = node.call("POST", "/v1/admin/participants", "admin", json=body)
        assert error_of(reply)[1] == code, (name, reply.text)
        assert node.app.state.services.registry.participant(body["account"]).registered is False


def test_browsers_get_error_pages_and_api_clients_json(node):
    for path in ("/batches/999999", "/retirements/999999", "/no/such/page"):
        page = node.call("GET", path, headers=PAGE)
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html"), path
        assert LABELS["zh"]["errors"]["404"] in page.text and 'data-code="not_found"' in page.text
        english = node.call("GET", path, params={"lang": "en"}, headers=PAGE)
        assert LABELS["en"]["errors"]["404"] in english.text and LABELS["zh"]["errors"]["404"] not in english.text
        machine = node.call("GET", path)
        assert machine.status_code == 404 and machine.json()["error"]["code"] == "not_found"
    bad = node.call("GET", "/batches/abc", headers=PAGE)
    assert bad.status_code == 422 and 'data-code="validation_error"' in bad.text
    api = node.call("GET", "/v1/batches/999999", headers=PAGE)  # the API answers JSON whatever is accepted
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"


def _same_site_links(page, base: str) -> set[str]:
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
    return {href.split("#")[0] for href in hrefs if urlsplit(href).netloc == urlsplit(base).netloc}


def test_every_page_fits_a_phone_and_a_desktop_in_both_languages(node, market, tmp_path):
    pages = [
        "/",
        "/registry",
        "/registry?view=batches",
        "/market",
        "/discover",
        "/discover?tonnes=5&region=CN-ZJ&order2=-vintage,price",
        "/prices",
        "/blacklist",
        "/regulator/sign-in",
        f"/projects/{market['project']}",
        f"/listings/{market['listing']}",
        f"/offsets/orders/{market['order']}",
        f"/batches/{market['batch']}",
        f"/retirements/{market['retirement']}",
        "/search",
        "/search?q=nothing-here",
        "/batches/999999",
    ]
    zh_only = {LABELS["zh"][key] for key in ("nav_home", "home_title", "footer", "search_label")}
    en_only = {LABELS["en"][key] for key in ("nav_home", "home_title", "footer", "search_label")}
    checked: set[str] = set()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            for viewport in (PHONE, DESKTOP):
                for lang in ("zh", "en"):
                    page = browser.new_page(viewport=viewport)
                    console: list[str] = []
                    page.on("console", lambda message, console=console: console.append(message.text))
                    for path in pages:
                        url = f"{node.url}{path}{'&' if '?' in path else '?'}lang={lang}"
                        page.goto(url)
                        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
                        assert width[0] <= width[1], (path, lang, viewport, width)
                        chrome = page.locator("header").inner_text() + page.locator("footer").inner_text()
                        wrong = en_only if lang == "zh" else zh_only
                        assert not [label for label in wrong if label in chrome], (path, lang)
                        checked |= _same_site_links(page, node.url)
                        if viewport is PHONE:
                            name = re.sub(r"[^A-Za-z0-9]+", "-", path.strip("/")) or "home"
                            page.screenshot(path=tmp_path / f"{name}-{lang}-phone.png", full_page=True)
                    assert csp_violations(console) == [], console
                    page.close()
        finally:
            browser.close()
    # An error page's language link leads to the same error, in the other language.
    errors = ("/batches/999999?", "/search?q=nothing-here")
    checked = {link for link in checked if not any(e in link for e in errors)}
    assert len(checked) > 10
    broken = [link for link in sorted(checked) if node.call("GET", link).status_code != 200]
    assert broken == []
    assert (tmp_path / "home-zh-phone.png").stat().st_size > 10_000


AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"


def test_no_page_has_a_serious_accessibility_violation(node, market):
    """axe-core (from npm) run in each page kind, in both languages: no serious or critical violation."""
    pages = ["/", "/registry", "/market", "/discover", "/discover?tonnes=5&kind=park", "/prices", "/blacklist",
             "/regulator/sign-in", "/search?q=nothing-here",
             f"/projects/{market['project']}",
             f"/batches/{market['batch']}", f"/retirements/{market['retirement']}", f"/listings/{market['listing']}",
             f"/offsets/orders/{market['order']}", "/batches/999999"]  # fmt: skip
    source = AXE.read_text(encoding="utf-8")
    found = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            # The site's policy forbids injected scripts, as it should: axe runs with the policy bypassed.
            context = browser.new_context(viewport=PHONE, bypass_csp=True)
            page = context.new_page()
            for path in pages:
                for lang in ("zh", "en"):
                    page.goto(f"{node.url}{path}{'&' if '?' in path else '?'}lang={lang}")
                    page.evaluate(source)
                    result = page.evaluate("async () => { const r = await axe.run(document); return [r.passes.length,"
                                           " r.violations.map(v => [v.id, v.impact, v.nodes.length])]; }")  # fmt: skip
                    assert result[0] > 10, "axe ran its checks"
                    found += [(path, lang, *v) for v in result[1] if v[1] in ("serious", "critical")]
        finally:
            browser.close()
    assert found == []


def test_the_qr_code_of_each_certificate_leads_to_its_page(node, market):
    paths = [f"/retirements/{market['retirement']}", f"/offsets/orders/{market['order']}",
             f"/listings/{market['listing']}", f"/batches/{market['batch']}"]  # fmt: skip
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=PHONE)
            for path in paths:
                page.goto(f"{node.url}{path}?lang=en")
                assert decode_qr(page.locator(".qr").screenshot()) == f"{node.url}{path}", path
        finally:
            browser.close()
