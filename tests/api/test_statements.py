"""ESG retirement statements end to end over HTTP on a real chain: the retirements whose consumption overlaps the
period, totals, the node's signature over the canonical JSON, the PDF rendered by poppler and read back (its
text and its QR codes), the CSV, the verification page, an altered copy refused, and requests refused."""

import csv
import hashlib
import io
import json
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from node.devflows import error_of, issued_batch
from node.reports.esg import recover_statement_signer
from registry.accounting import PERIOD_ZONE
from registry.merkle import merkle_root
from registry.offsets import order_leaf
from tests.api.test_browser import csp_violations, phone_page
from tests.api.test_offsets import orders

BUYER_ORGANISATION, PLATFORM_ORGANISATION = 4, 5


def _ts(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=PERIOD_ZONE).timestamp())


@pytest.fixture(scope="module")
def retired(node) -> dict:
    """The buyer retires three times (consumption in 2023, in 2024, and from November 2024 into 2025); the
    platform offsets three checkout orders (a Merkle root over them)."""
    project, batch = issued_batch(node, profile={"name": "滨江公园", "region": "CN-ZJ-HZ", "kind": "park"})
    for holder in ("buyer", "platform"):
        node.ok(
            "POST", "/v1/transfers", "park", json={"batch_id": batch, "to": node.addresses[holder], "amount": 10**8}
        )
    ids = {}
    for name, start, end, grams in (
        ("y2023", "2023-03-01", "2023-06-30", 1_000_000),
        ("y2024", "2024-04-01", "2024-05-31", 2_500_000),
        ("across", "2024-11-15", "2025-02-15", 700_000),
    ):
        answer = node.ok("POST", "/v1/retirements", "buyer", json={
            "batch_id": batch, "amount": grams, "beneficiary": "杭州快递有限公司", "reason": f"配送碳中和 {name}",
            "consumption_start": _ts(start), "consumption_end": _ts(end), "region": "CN-ZJ"})  # fmt: skip
        ids[name] = answer["result"]["retirement_id"]
    offset = node.ok("POST", "/v1/offsets/logistics", "platform", json={"orders": orders(3, "ESG"), "region": "CN-ZJ"})
    return {"project": project, "batch": batch, "ids": ids, "offset": offset}


def _qr_texts(png: Path) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(Image.open(png))]


def _check(node, content: bytes) -> dict:
    """What the node says of a copy: the file stays here, only its SHA-256 is sent."""
    return node.ok("GET", "/v1/statements/verify", params={"sha256": hashlib.sha256(content).hexdigest()})


def _issue(node, who: str, organisation: int, first: str, last: str) -> dict:
    body = {"organisation": organisation, "first_day": first, "last_day": last}
    return node.ok("POST", "/v1/statements", who, json=body)


def test_a_statement_lists_what_overlaps_the_period_signed_and_totalled(node, retired):
    issued = _issue(node, "buyer", BUYER_ORGANISATION, "2024-01-01", "2024-12-31")
    assert [line["retirement_id"] for line in issued["lines"]] == [retired["ids"]["y2024"], retired["ids"]["across"]]
    line = issued["lines"][0]
    assert line["serial"] == f"SL-{retired['project']}-1" and line["project"] == "滨江公园"
    assert (line["kind"], line["region"], line["quantity_g"]) == ("park", "CN-ZJ-HZ", 2_500_000)
    assert (line["consumption_from"], line["consumption_to"]) == ("2024-04-01", "2024-05-31")
    assert line["beneficiary"] == "杭州快递有限公司" and line["tx_hash"].startswith("0x") and line["block_number"] > 0
    assert issued["totals"] == {"retirements": 2, "quantity_g": 3_200_000, "by_kind": {"park": 3_200_000},
                                "by_region": {"CN-ZJ-HZ": 3_200_000}}  # fmt: skip
    # The canonical JSON hashes to the statement's hash, and the node's signature over it recovers its address.
    body = node.call("GET", f"/v1/statements/{issued['hash']}.json", "buyer").content
    assert "0x" + hashlib.sha256(body).hexdigest() == issued["hash"]
    assert json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() == body
    assert recover_statement_signer(issued["hash"], issued["signature"]) == issued["signer"]
    assert issued["signature_valid"]
    assert node.ok("GET", f"/v1/statements/{issued['hash']}")["totals"] == issued["totals"]  # anyone with the hash
    sheet = node.call("GET", f"/v1/statements/{issued['hash']}.csv", "buyer")
    rows = list(csv.DictReader(io.StringIO(sheet.content.decode("utf-8-sig"))))
    assert [int(r["quantity_g"]) for r in rows] == [2_500_000, 700_000]
    assert {r["statement"] for r in rows} == {issued["hash"]}


def test_the_pdf_reads_back_and_an_altered_copy_fails(node, retired, tmp_path: Path):
    issued = _issue(node, "buyer", BUYER_ORGANISATION, "2024-01-01", "2024-12-31")
    reply = node.call("GET", f"/v1/statements/{issued['hash']}.pdf", "buyer")
    assert reply.headers["content-type"] == "application/pdf"
    pdf = reply.content
    assert hashlib.sha256(pdf).hexdigest() == issued["pdf_sha256"]
    (tmp_path / "statement.pdf").write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "statement.pdf"), "-"], capture_output=True,
                          check=True, timeout=60).stdout.decode()  # fmt: skip
    expected_texts = (
        issued["hash"],
        "园林碳汇注销声明",
        "carbon sink retirement",
        "杭州快递有限公司",
        "滨江公园",
        f"SL-{retired['project']}-1",
        issued["lines"][0]["tx_hash"],
        issued["signer"],
        "3.2 tCO2e",
    )
    for expected in expected_texts:
        assert expected in text, expected
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-f", "1", "-l", "1", str(tmp_path / "statement.pdf"),
                    str(tmp_path / "page")], check=True, timeout=60)  # fmt: skip
    (page_one,) = sorted(tmp_path.glob("page*.png"))
    found = set(_qr_texts(page_one))
    assert f"{node.url}/statements/{issued['hash']}" in found  # the verification page
    assert {f"{node.url}/retirements/{line['retirement_id']}" for line in issued["lines"]} <= found
    # The copy as issued passes; the same PDF with one character changed, or the CSV with a quantity changed,
    # does not.
    genuine = _check(node, pdf)
    assert genuine["genuine"] and genuine["statement"] == issued["hash"] and genuine["issued_as"] == "pdf"
    altered = pdf.replace(b"ESG retirement statement", b"ESG retirement statemenT", 1)
    assert altered != pdf
    check = _check(node, altered)
    assert check == {"genuine": False, "sha256": hashlib.sha256(altered).hexdigest()}
    sheet = node.call("GET", f"/v1/statements/{issued['hash']}.csv", "buyer").content
    assert _check(node, sheet)["issued_as"] == "csv"
    changed = sheet.replace(b"2500000", b"2600000", 1)
    assert not _check(node, changed)["genuine"]
    assert node.call("GET", "/v1/statements/verify", params={"sha256": "xyz"}).status_code == 422


def test_an_offset_line_carries_the_leaves_that_rebuild_its_root(node, retired):
    today = datetime.now(PERIOD_ZONE).date().isoformat()
    issued = _issue(node, "platform", PLATFORM_ORGANISATION, "2020-01-01", today)
    offset_lines = [line for line in issued["lines"] if line["merkle_root"]]
    assert offset_lines and all(line["merkle_root"] == retired["offset"]["root"].lower() for line in offset_lines)
    body = json.loads(node.call("GET", f"/v1/statements/{issued['hash']}.json", "platform").content)
    tree = body["merkle_trees"][offset_lines[0]["merkle_root"]]
    assert tree["kind"] == "offset" and [leaf[0] for leaf in tree["leaves"]] == [f"ESG-{i:06d}" for i in range(3)]
    rebuilt = merkle_root([order_leaf(order_id, grams) for order_id, grams in tree["leaves"]])
    assert "0x" + rebuilt.hex() == offset_lines[0]["merkle_root"]


def test_statements_for_another_organisation_or_nonsense_periods_are_refused(node, retired):
    body = {"organisation": BUYER_ORGANISATION, "first_day": "2024-01-01", "last_day": "2024-12-31"}
    assert error_of(node.call("POST", "/v1/statements", "park", json=body)) == (403, "not_your_organisation")
    assert error_of(node.call("POST", "/v1/statements", json=body)) == (401, "unauthenticated")
    by_regulator = node.ok("POST", "/v1/statements", "regulator", json=body)  # a regulator may
    foreign = node.call("GET", f"/v1/statements/{by_regulator['hash']}.pdf", "park")
    assert error_of(foreign) == (403, "not_your_organisation")
    assert error_of(node.call("POST", "/v1/statements", "regulator", json={**body, "organisation": 777})) == (
        404, "not_found")  # fmt: skip
    for wrong in ({"first_day": "2024-02-30"}, {"first_day": "2025-01-01"}, {"first_day": "1990-01-01"},
                  {"last_day": "24-12-31"}, {"signed_by": "me"}, {"organisation": -1}):  # fmt: skip
        assert error_of(node.call("POST", "/v1/statements", "buyer", json={**body, **wrong})) == (
            422, "validation_error"), wrong  # fmt: skip
    assert error_of(node.call("GET", "/v1/statements/0x" + "ab" * 32)) == (404, "not_found")
    assert node.call("GET", "/v1/statements/0xnothex").status_code == 422


def test_the_verification_page_fits_a_phone(node, retired, tmp_path: Path):
    issued = _issue(node, "buyer", BUYER_ORGANISATION, "2024-01-01", "2024-12-31")
    pdf = node.call("GET", f"/v1/statements/{issued['hash']}.pdf", "buyer").content
    (tmp_path / "statement.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-f", "1", "-l", "1", str(tmp_path / "statement.pdf"),
                    str(tmp_path / "page")], check=True, timeout=60)  # fmt: skip
    (page_one,) = sorted(tmp_path.glob("page*.png"))
    url = next(u for u in _qr_texts(page_one) if "/statements/" in u)
    with phone_page() as (page, console):
        page.goto(url)
        assert "签名有效" in page.locator("#signature").inner_text()
        assert page.locator("#hash").inner_text() == issued["hash"]
        assert page.locator("#lines tr").count() == 3  # the header and two lines
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], width
        assert csp_violations(console) == [], console
