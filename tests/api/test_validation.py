"""Issue 18, validation: real dates in filters, nothing already expired, no control characters in stored
text, safe evidence file names, and listings only within what the seller's deposits cover."""

import re
import threading
import time
import typing

import pytest
from pydantic import BaseModel

from node.api import schemas
from node.devflows import DAY, bought, deposit, error_of, issued_batch, listing_for, new_project
from node.evidence.names import safe_file_name
from node.text import multi_line, single_line


def _message(reply) -> str:  # type: ignore[no-untyped-def]
    return reply.json()["error"]["message"]


def _listings(node, project: int) -> list[dict]:  # type: ignore[no-untyped-def]
    """Every listing of a project whatever its status, by id."""
    statuses = ("open", "suspended", "scheduled", "under_review", "expired", "withdrawn")
    found = [node.ok("GET", "/v1/listings", params={"project_id": project, "status": s}) for s in statuses]
    return sorted((item for page in found for item in page), key=lambda item: item["id"])


# 1. dates ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/v1/regulator/summary", {"since": "2024-13-45"}, "since"),
        ("/v1/regulator/summary", {"until": "2024-02-30"}, "until"),
        ("/v1/regulator/report", {"since": "2024-13-45", "until": "2024-01-02"}, "since"),
        ("/v1/regulator/report", {"since": "2024-01-01", "until": "2023-02-29"}, "until"),
        ("/v1/regulator/report", {"since": "2024-1-1", "until": "2024-01-02"}, "since"),
    ],
)
def test_an_impossible_date_in_a_filter_is_refused_naming_the_parameter(node, path, params, named):
    reply = node.call("GET", path, "regulator", params=params)
    assert error_of(reply) == (422, "validation_error")
    assert f"query.{named}" in _message(reply)


def test_real_dates_still_filter(node):
    assert node.ok("GET", "/v1/regulator/summary", "regulator", params={"since": "2024-02-29"}) is not None
    today = time.strftime("%Y-%m-%d", time.gmtime())
    report = node.ok("GET", "/v1/regulator/report", "regulator", params={"since": "2024-02-29", "until": today})
    assert "volumes" in report


# 2. nothing already expired -----------------------------------------------------------------------
def test_an_expired_listing_or_offer_is_refused_and_nothing_is_stored(node):
    assert deposit(node, "park").status_code == 201
    project, batch = issued_batch(node)
    now = int(time.time())
    past = listing_for(batch, 1_000_000, valid_from=now - 2 * DAY, valid_until=now - DAY)
    reply = node.call("POST", "/v1/listings", "park", json=past)
    assert error_of(reply) == (422, "already_expired") and "valid_until" in _message(reply)
    assert _listings(node, project) == []

    listing = node.ok("POST", "/v1/listings", "park", json=listing_for(batch, 2_000_000))
    offers = node.services.state.rows("SELECT COUNT(*) AS n FROM offer")[0]["n"]
    for expires_at in (now - 1, 0):
        body = {"quantity": 1_000_000, "price": "58.00", "expires_at": expires_at}
        reply = node.call("POST", f"/v1/listings/{listing['id']}/offers", "buyer", json=body)
        assert error_of(reply) == (422, "already_expired") and "expires_at" in _message(reply)
    assert node.services.state.rows("SELECT COUNT(*) AS n FROM offer")[0]["n"] == offers
    assert [item["id"] for item in _listings(node, project)] == [listing["id"]]


# 3. control characters ------------------------------------------------------------------------------
def test_control_and_bidi_characters_are_refused_in_single_line_text():
    for bad in ("a\x00b", "a\nb", "a\tb", "\x1b[31mred", "x\x7f", "x\x85", "x\x9f", "a\u2028b", "\u202eexe.pdf",
                "\u2066x\u2069"):  # fmt: skip
        with pytest.raises(ValueError):
            single_line(bad)
    assert single_line("滨江公园 Riverside Park (CN-ZJ) — 2025") == "滨江公园 Riverside Park (CN-ZJ) — 2025"


def test_multi_line_text_keeps_its_line_breaks_and_tabs_only():
    assert multi_line("one\ntwo\r\n\tthree") == "one\ntwo\r\n\tthree"
    for bad in ("a\x00", "a\rb", "a\x0bb", "a\x1b", "a\x85", "\u202etxt"):
        with pytest.raises(ValueError):
            multi_line(bad)


def _request_models() -> list[type[BaseModel]]:
    return [
        model
        for model in vars(schemas).values()
        if isinstance(model, type) and issubclass(model, schemas.Strict) and model is not schemas.Strict
    ]


def test_every_text_field_of_every_request_schema_is_checked():
    """A str field either matches an anchored pattern (which admits no control character) or carries the
    SingleLine/MultiLine check: a new field without either fails here."""
    unchecked = []
    for model in _request_models():
        for name, field in model.model_fields.items():
            annotation = typing.get_args(field.annotation) or (field.annotation,)
            if str not in annotation:
                continue
            patterns = [getattr(m, "pattern", None) for m in field.metadata]
            validators = [getattr(m, "func", None) for m in field.metadata]
            if not any(patterns) and single_line not in validators and multi_line not in validators:
                unchecked.append(f"{model.__name__}.{name}")
    assert unchecked == []


@pytest.mark.parametrize(
    ("who", "path", "body", "named"),
    [
        ("buyer", "/v1/retirements", {"batch_id": 1, "amount": 1, "beneficiary": "ACME\x00 Ltd"}, "beneficiary"),
        ("buyer", "/v1/retirements", {"batch_id": 1, "amount": 1, "beneficiary": "\u202eDTL EMCA"}, "beneficiary"),
        ("buyer", "/v1/retirements", {"batch_id": 1, "amount": 1, "beneficiary": "A\nB"}, "beneficiary"),
        ("buyer", "/v1/retirements", {"batch_id": 1, "amount": 1, "beneficiary": "A", "reason": "x\x1b[2J"}, "reason"),
        ("park", "/v1/projects", {"profile": {"name": "Park\u2028", "region": "CN-SH", "kind": "park"}}, "name"),
        ("admin", "/v1/admin/custodians", {"address": "0x" + "ab" * 20, "name": "ICBC\r\nX-Forged: 1"}, "name"),
        ("regulator", "/v1/regulator/blacklist", {"account": "0x" + "ab" * 20, "reason": "bad\x00"}, "reason"),
    ],
)
def test_control_characters_in_a_request_are_refused_naming_the_field(node, who, path, body, named):
    reply = node.call("POST", path, who, json=body)
    assert error_of(reply) == (422, "validation_error")
    assert named in _message(reply)
    assert "\x00" not in reply.text and "\u202e" not in reply.text  # the message names a code point, never echoes


def test_listing_text_refuses_controls_but_a_description_keeps_its_lines(node):
    assert deposit(node, "park").status_code == 201
    project, batch = issued_batch(node)
    for field, text in (("title", "Park\x00"), ("title", "Park\ttrees"), ("description", "red \x1b[31m")):
        reply = node.call("POST", "/v1/listings", "park", json=listing_for(batch, 1_000_000, **{field: text}))
        assert error_of(reply) == (422, "validation_error") and field in _message(reply)
    assert _listings(node, project) == []
    created = node.ok(
        "POST", "/v1/listings", "park", json=listing_for(batch, 1_000_000, description="Trees.\nSoil.\r\n\tWater.")
    )
    assert created["description"] == "Trees.\nSoil.\r\n\tWater."


def test_offset_order_ids_and_shoppers_refuse_control_characters(node):
    leg = {"mode": "road", "distance_km": 10, "weight_kg": 2}
    for order in ({"order_id": "A-1\x1b", "legs": [leg]}, {"order_id": "A-2", "shopper": "s\u202e", "legs": [leg]}):
        reply = node.call("POST", "/v1/offsets/logistics", "buyer", json={"orders": [order]})
        assert error_of(reply) == (422, "invalid_order") and "orders[0]" in _message(reply)
    assert node.call("GET", "/v1/offsets/orders/A-2").status_code == 404


def test_an_evidence_kind_with_a_control_character_is_refused(node):
    project = new_project(node)
    files = [("files", ("report.pdf", b"%PDF-1.7 report", "application/pdf"))]
    reply = node.call(
        "POST", "/v1/evidence", "park", data={"project_id": str(project), "kind": "report\nx"}, files=files
    )
    assert error_of(reply) == (422, "validation_error") and "kind" in _message(reply)


# 4. evidence file names ----------------------------------------------------------------------------
def test_a_file_name_is_reduced_to_a_safe_base_name_and_the_original_kept_escaped():
    assert safe_file_name("../../etc/passwd") == ("passwd", "../../etc/passwd")
    assert safe_file_name("C:\\Users\\x\\report.pdf") == ("report.pdf", "C:\\\\Users\\\\x\\\\report.pdf")
    assert safe_file_name("a\x00b\nc.txt") == ("abc.txt", "a\\u0000b\\u000ac.txt")
    assert safe_file_name("\u202efdp.exe") == ("fdp.exe", "\\u202efdp.exe")
    assert safe_file_name("...hidden") == ("hidden", "...hidden")
    assert safe_file_name("监测报告.pdf") == ("监测报告.pdf", "监测报告.pdf")
    for nothing in (None, "", "..", "/", "\x00"):
        assert safe_file_name(nothing)[0] == "file"
    long, _ = safe_file_name("x" * 300 + ".pdf")
    assert len(long) == 128 and long.endswith(".pdf")


def _multipart(project: int, filename: bytes, content: bytes) -> tuple[bytes, str]:
    """Built by hand: httpx percent-encodes control characters in a file name, an attacker does not."""
    boundary = "sinkledger-validation"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="project_id"\r\n\r\n{project}\r\n'.encode()
        + f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="'.encode()
        + filename
        + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        (b"../../../etc/cron.d/evil", "evil"),
        (b"..\\..\\windows\\evil.bat", "evil.bat"),
        (b"log\x00\x1b[2Jforged.txt", "log[2Jforged.txt"),
        ("\u202egpj.exe".encode(), "gpj.exe"),
        (b".htaccess", "htaccess"),
    ],
)
def test_an_uploaded_file_is_kept_under_a_safe_name(node, sent, shown):
    project = new_project(node)
    body, content_type = _multipart(project, sent, f"evidence {sent!r}".encode())
    reply = node.call("POST", "/v1/evidence", "park", content=body, headers={"content-type": content_type})
    assert reply.status_code == 201, reply.text
    (record,) = reply.json()["files"]
    assert record["name"] == shown
    assert all(ch.isprintable() for ch in record["original_name"])
    assert node.ok("GET", f"/v1/evidence/{reply.json()['evidence_root']}")["files"][0] == record


# 5. deposit coverage -------------------------------------------------------------------------------
def _seller_with(node, grams: int) -> int:  # type: ignore[no-untyped-def]
    """A batch of which 'platform' holds `grams`; its deposits start wherever earlier tests left them."""
    _, batch = issued_batch(node)
    node.ok("POST", "/v1/transfers", "park", json={"batch_id": batch, "to": node.addresses["platform"],
                                                   "amount": grams, "deal_ref": "0x" + "00" * 32})  # fmt: skip
    return batch


def test_a_listing_needs_deposits_covering_a_share_of_all_live_listings(node):
    seller = node.addresses["platform"]
    batch = _seller_with(node, 40_000_000)
    assert deposit(node, "platform", amount_fen=1).status_code == 201  # the 1-fen deposit of the report
    # 10 t at 58.50 CNY is 58 500 fen; 10 % of it is 5 850 fen.
    reply = node.call("POST", "/v1/listings", "platform", json=listing_for(batch, 10_000_000))
    assert error_of(reply) == (409, "deposit_insufficient")
    assert "58500 fen" in _message(reply) and "5850 fen" in _message(reply) and "1 fen left" in _message(reply)

    assert deposit(node, "platform", amount_fen=5_849).status_code == 201  # 5 850 fen in all
    first = node.ok("POST", "/v1/listings", "platform", json=listing_for(batch, 10_000_000))
    # Both listings together: 117 000 fen, 11 700 needed.
    reply = node.call("POST", "/v1/listings", "platform", json=listing_for(batch, 10_000_000))
    assert error_of(reply) == (409, "deposit_insufficient") and "117000 fen" in _message(reply)
    assert [item["id"] for item in node.ok("GET", "/v1/listings", params={"project_id": first["project"]["id"]})] == [
        first["id"]
    ]
    assert node.ok("GET", f"/v1/deposits/{seller}", "platform")["remaining_fen"] == 5_850

    node.ok("DELETE", f"/v1/listings/{first['id']}", "platform")  # a withdrawn listing needs no cover
    node.ok("POST", "/v1/listings", "platform", json=listing_for(batch, 10_000_000))


def test_two_listings_racing_on_one_deposit_cannot_both_pass(node):
    batch = _seller_with(node, 40_000_000)
    # Whatever earlier tests listed stays live; top the deposits up to cover exactly one more 10 t listing.
    live = [
        item
        for status in ("open", "scheduled", "under_review", "suspended")
        for item in node.ok("GET", "/v1/listings", params={"status": status, "limit": 500})
        if item["seller"] == node.addresses["platform"].lower()
    ]
    listed = sum(round(float(item["price_cny_per_tonne"]) * 100) * item["quantity"] // 10**6 for item in live)
    remaining = node.ok("GET", f"/v1/deposits/{node.addresses['platform']}", "platform")["remaining_fen"]
    needed = -(-(listed + 58_500) // 10) - remaining
    assert needed > 0 and deposit(node, "platform", amount_fen=needed).status_code == 201

    replies: list = []
    start = threading.Barrier(2)

    def list_one() -> None:
        start.wait()
        replies.append(node.call("POST", "/v1/listings", "platform", json=listing_for(batch, 10_000_000)))

    threads = [threading.Thread(target=list_one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(reply.status_code for reply in replies) == [201, 409]
    assert {error_of(r) for r in replies if r.status_code == 409} == {(409, "deposit_insufficient")}


def test_what_a_listing_has_delivered_needs_no_more_cover(node):
    batch = _seller_with(node, 40_000_000)
    assert deposit(node, "platform", amount_fen=10_000).status_code == 201  # covers this test's 10 t listing
    listing = node.ok("POST", "/v1/listings", "platform", json=listing_for(batch, 10_000_000))

    def live_value() -> int:
        # A listing far beyond any deposit is refused, naming what the live listings are worth with it.
        reply = node.call("POST", "/v1/listings", "platform", json=listing_for(batch, 30_000_000, price="100000.00"))
        assert error_of(reply) == (409, "deposit_insufficient")
        return int(re.search(r"live listings worth (\d+) fen", _message(reply)).group(1))

    before = live_value()
    bought(node, listing["id"], 4_000_000)  # 4 t delivered out of the 10 t listed at 58.50
    assert live_value() == before - 23_400
