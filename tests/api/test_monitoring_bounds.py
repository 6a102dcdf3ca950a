"""Out-of-range monitoring data over HTTP: a clean 422 in the error shape naming the field and row, never a 500,
and nothing stored (no evidence bundle, no computation).

Before the bounds, a count of 2^64 − 1 computed a quantity of ~10^25 g: the evidence bundle was saved, then
the store's insert overflowed (SQLite and orjson stop at 64-bit integers) and the node answered a plain-text
500, leaving the bundle behind. Bounds refuse such data before anything is stored."""

import json

import pytest

from node.devflows import error_of, monitoring_report, new_project


def evidence_files(node) -> int:
    return sum(1 for path in node.settings.evidence_dir.rglob("*") if path.is_file())


def refused(node, project: int, **send) -> tuple[tuple[int, str], str]:
    before = evidence_files(node)
    reply = node.call("POST", f"/v1/projects/{project}/monitoring", "park", **send)
    assert reply.headers["content-type"].startswith("application/json"), reply.text[:300]
    assert evidence_files(node) == before, "a refused report leaves no evidence behind"
    assert node.ok("GET", f"/v1/projects/{project}/accounting") == []
    return error_of(reply), reply.json()["error"]["message"]


@pytest.fixture(scope="module")
def project(node) -> int:
    return new_project(node)


def raw(report: dict, placeholder: str, literal: str) -> dict:
    """A body httpx's json= cannot write (1e999, integers past 2^64): JSON text with the literal spliced in."""
    text = json.dumps(report, ensure_ascii=False).replace(f'"{placeholder}"', literal)
    return {"content": text.encode(), "headers": {"content-type": "application/json"}}


def test_a_count_of_two_to_the_64_minus_one_is_a_clean_422(node, project):
    report = monitoring_report()
    report["trees"]["t2"][0]["count"] = 2**64 - 1
    error, message = refused(node, project, json=report)
    assert error == (422, "invalid_monitoring") and message.startswith("trees.t2[0].count: ")


@pytest.mark.parametrize(("where", "literal"), [
    ("count", "18446744073709551616"),  # 2^64: the parser makes it a float
    ("count", "1000000000000"),
    ("dbh_cm", "1e300"),
    ("dbh_cm", "300"),
])  # fmt: skip
def test_out_of_range_numbers_are_refused_naming_the_row(node, project, where, literal):
    report = monitoring_report()
    report["trees"]["t1"][0][where] = "PLACEHOLDER"
    error, message = refused(node, project, **raw(report, "PLACEHOLDER", literal))
    assert error == (422, "invalid_monitoring") and message.startswith(f"trees.t1[0].{where}: ")


@pytest.mark.parametrize("literal", ["1e999", "-1e999", "NaN", "Infinity"])
def test_an_infinite_float_is_a_clean_422(node, project, literal):
    report = monitoring_report()
    report["maintenance"]["diesel_l"] = "PLACEHOLDER"
    error, _ = refused(node, project, **raw(report, "PLACEHOLDER", literal))
    assert error[0] == 422


def test_a_huge_finite_float_is_refused_before_it_overflows(node, project):
    report = monitoring_report()
    report["shrubs"] = [{"area_m2": "PLACEHOLDER", "biomass_kg_m2_t1": 0, "biomass_kg_m2_t2": 50}]
    error, message = refused(node, project, **raw(report, "PLACEHOLDER", "1.7e308"))
    assert error == (422, "invalid_monitoring") and message.startswith("shrubs[0].area_m2: ")


def test_rows_within_bounds_adding_up_past_a_gigatonne_are_refused(node, project):
    report = monitoring_report()
    report["trees"]["t2"] = [{"species": "香樟", "dbh_cm": 250, "count": 10_000_000}] * 1000
    error, message = refused(node, project, json=report)
    assert error == (422, "invalid_monitoring") and message.startswith("trees.t2: ")


def test_the_buffer_share_is_not_the_owners_to_send(node, project):
    report = {**monitoring_report(), "buffer_share": 0.0}
    error, message = refused(node, project, json=report)
    assert error == (422, "invalid_monitoring") and message.startswith("buffer_share: ")
    assert "registry's setting" in message


def test_a_future_or_ancient_period_and_an_unknown_species_are_refused(node, project):
    report = monitoring_report(period=("1900-01-01", "2100-12-31"))
    assert refused(node, project, json=report)[1].startswith("period.start: ")
    report = monitoring_report(period=("2025-01-01", "2100-12-31"))
    assert refused(node, project, json=report)[1].startswith("period.end: ")
    report = monitoring_report()
    report["trees"]["t2"][0]["species"] = "香樟\u200b"  # a zero-width variant is the same species: accepted
    report["trees"]["t2"].append({"species": "香章", "dbh_cm": 20.0})
    assert refused(node, project, json=report)[1].startswith("trees.t2[1].species: ")


def test_a_report_within_bounds_is_still_accepted_and_stored(node):
    project = new_project(node)
    before = evidence_files(node)
    report = monitoring_report()
    report["maintenance"]["grid_region"] = "华东"
    report["trees"]["t2"][0]["species"] = "Cinnamomum camphora"
    accepted = node.ok("POST", f"/v1/projects/{project}/monitoring", "park", json=report)
    assert accepted["accounting"]["creditable_grams"] > 0 and evidence_files(node) > before


@pytest.mark.parametrize("literal", ["1e999", "-1E+999", "1" + "0" * 400])
def test_a_number_past_the_floats_range_is_named_as_such(node, project, literal):
    text = b'{"x": ' + literal.encode() + b"}"
    error, message = refused(node, project, content=text, headers={"content-type": "application/json"})
    assert error == (422, "validation_error")
    assert message == "body: a number is out of range (infinite as a 64-bit float) at line 1 column 7"


def test_a_body_that_is_not_json_says_so(node, project):
    error, message = refused(node, project, content=b'{"x": NaN}', headers={"content-type": "application/json"})
    assert error == (422, "validation_error") and message == "body: not JSON"
