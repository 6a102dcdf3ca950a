"""A person scans the QR code: headless Chromium opens the page the code points at, in both languages."""

import io
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import zxingcpp
from PIL import Image
from playwright.sync_api import Page, sync_playwright

from node.demo import CAST
from node.devflows import deposit, issued_batch, listing_for
from registry.units import format_co2e

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]  # fmt: skip


def csp_violations(messages: list[str]) -> list[str]:
    """Chromium reports what the Content-Security-Policy blocked on the console, one message each."""
    return [m for m in messages if "Content Security Policy" in m]


@contextmanager
def phone_page() -> Iterator[tuple[Page, list[str]]]:
    """A page in headless Chromium on a phone-sized screen, and the console messages it logs."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            console: list[str] = []
            page.on("console", lambda message: console.append(message.text))
            yield page, console
        finally:
            browser.close()


def decode_qr(png: bytes) -> str:
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(results) == 1, "exactly one QR code"
    return results[0].text


def test_the_qr_code_leads_to_a_provenance_page_a_person_can_read(node, tmp_path):
    project, batch = issued_batch(node)
    node.ok("POST", "/v1/transfers", "park", json={"batch_id": batch, "to": node.addresses["buyer"], "amount": 10**8})
    retired = node.ok("POST", "/v1/retirements", "buyer", json={
        "batch_id": batch, "amount": 2 * 10**7, "beneficiary": "杭州快递有限公司", "reason": "配送碳中和",
        "consumption_start": 1_700_000_000, "consumption_end": 1_710_000_000, "region": "CN-ZJ"})  # fmt: skip
    url = decode_qr(node.call("GET", f"/v1/qr/batches/{batch}.png").content)
    assert url == f"{node.url}/batches/{batch}"
    certificate_url = decode_qr(
        node.call("GET", f"/v1/qr/retirements/{retired['result']['retirement_id']}.png").content
    )

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
            console: list[str] = []
            page.on("console", lambda message: console.append(message.text))
            page.goto(url)
            assert page.locator("#title").inner_text() == f"碳汇批次 SL-{project}-1"
            assert page.locator("#status").inner_text() == "状态：有效"
            assert "已于区块" in page.locator("#chain-check").inner_text()
            issued = node.ok("GET", f"/v1/batches/{batch}")["quantity"]
            assert page.locator("#quantity").inner_text() == format_co2e(issued)
            assert "碳汇核算" in page.content() and "SL-GS-001/1.1" in page.locator("#accounting").inner_text()
            assert "不属于国家核证自愿减排量" in page.locator("#not-ccer").inner_text()
            history = page.locator("#history").inner_text()
            assert "签发" in history and "转让" in history and "注销" in history
            page.screenshot(path=tmp_path / "provenance-zh.png", full_page=True)
            # The page's styles come from /static: the strict policy blocked nothing and the look is there.
            assert csp_violations(console) == [], console
            assert page.locator("header").evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(35, 97, 58)"
            assert decode_qr(page.locator(".qr").screenshot()) == url  # the page's own QR points back to it

            page.get_by_text("English").click()
            page.wait_for_url("**lang=en")
            assert page.locator("#status").inner_text() == "Status: active"
            assert "Re-checked against the chain at block" in page.locator("#chain-check").inner_text()
            assert "not a CCER credit" in page.locator("#not-ccer").inner_text()
            page.screenshot(path=tmp_path / "provenance-en.png", full_page=True)

            page.goto(certificate_url + "?lang=zh")
            assert "碳汇注销证明" in page.locator("#title").inner_text()
            assert "杭州快递有限公司" in page.content()
            page.screenshot(path=tmp_path / "certificate-zh.png", full_page=True)
        finally:
            browser.close()
    assert all((tmp_path / name).stat().st_size > 10_000 for name in ("provenance-zh.png", "provenance-en.png"))


def test_a_listing_page_tells_a_buyer_in_chinese_what_it_is_buying(node, tmp_path):
    assert deposit(node, "park").status_code == 201
    profile = {"name": "滨江公园", "region": "CN-SH", "kind": "park"}
    project, batch = issued_batch(node, profile=profile)
    listing = node.ok(
        "POST", "/v1/listings", "park", json=listing_for(batch, 25_000_000, title="滨江公园 2025 年度碳汇")
    )
    url = decode_qr(node.call("GET", f"/v1/qr/listings/{listing['id']}.png").content)
    assert url == f"{node.url}/listings/{listing['id']}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            page.goto(url)
            assert page.locator("#title").inner_text() == f"挂牌 #{listing['id']}: 滨江公园 2025 年度碳汇"
            assert page.locator("#quantity").inner_text() == "25 tCO2e"
            assert page.locator("#price").inner_text() == "58.50"
            assert "滨江公园 (CN-SH, park)" in page.locator("#project").inner_text()
            assert page.locator("#method").inner_text() == "SL-GS-001/1.1"
            # Participants by the display name the administrator gave them, the address second.
            seller = page.locator("#seller").inner_text()
            assert seller.startswith(CAST["park"][2]) and seller.endswith(node.addresses["park"].lower())
            verifier = page.locator("#verifier").inner_text()
            assert verifier.startswith(CAST["verifier"][2]) and verifier.endswith(node.addresses["verifier"].lower())
            risk = page.locator("#risk").inner_text()
            assert "不是金融产品" in risk and "价格由买卖双方自行约定" in risk and "可被撤销" in risk
            page.screenshot(path=tmp_path / "listing-zh.png", full_page=True)
            assert decode_qr(page.locator(".qr").screenshot()) == url
            page.locator("#provenance").click()
            page.wait_for_url(f"**/batches/{batch}")
            assert page.locator("#title").inner_text() == f"碳汇批次 SL-{project}-1"
        finally:
            browser.close()
    assert (tmp_path / "listing-zh.png").stat().st_size > 10_000


def test_the_api_docs_render_offline_under_the_strict_policy(node):
    node_host = urlsplit(node.url).netloc
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            requested: list[str] = []
            console: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            page.on("console", lambda message: console.append(message.text))
            page.goto(f"{node.url}/docs")
            page.locator(".opblock-summary-path", has_text="/v1/batches/{batch_id}").first.wait_for(timeout=30_000)
            assert page.locator(".opblock").count() > 30  # the whole operations list, not an error box
            assert page.locator(".opblock-tag", has_text="public").count() >= 1
            page.wait_for_load_state("networkidle")
            outside = [u for u in requested if urlsplit(u).scheme != "data" and urlsplit(u).netloc != node_host]
            assert outside == [], outside  # Swagger UI's files and the schema: all from the node itself
            assert f"{node.url}/openapi.json" in requested
            assert any(u.startswith(f"{node.url}/static/swagger-ui/") for u in requested)
            assert csp_violations(console) == [], console
        finally:
            browser.close()
