"""Issue 19: a 500-free run of schemathesis over POST /v1/projects/{project_id}/monitoring, with extreme numbers.

The operation's body is documented by node.api.monitoring_schema (MonitoringBody), so schemathesis generates
real reports: positive ones (made to meet the rules between fields a JSON schema cannot state, so that their
numbers reach the parser's bounds rather than stop at a random period) and negative ones, with the coverage
phase's boundary values of every bound. Then every numeric field of a report is sent each extreme literal,
as raw JSON text (1e999 and 400-digit integers cannot be written by Python's json). Every answer is below
500, a refusal is in the error shape, and a refused report leaves no evidence bundle behind."""

import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode

from node.devflows import new_project
from tests.api.fuzz_support import CHECKS, call_kwargs
from tests.api.monitoring_bodies import (
    ROUTE,
    full_body,
    numeric_leaves,
    openapi,
    parser_has_trees_area,
    satisfy_cross_field_rules,
    where,
    with_value,
)

import schemathesis  # isort: skip

CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {"mode": "all", "max-examples": 60},
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True}},
    }
)
schema = schemathesis.openapi.from_dict(openapi(), config=CONFIG).include(path=ROUTE, method="POST")


def evidence_files(node: Any) -> int:
    return sum(1 for path in node.settings.evidence_dir.rglob("*") if path.is_file())


@pytest.fixture(scope="module")
def project(node) -> int:
    return new_project(node)


def assert_answer(node: Any, reply: Any, before: int) -> None:
    """Below 500; a refusal in the error shape leaving no evidence behind; an acceptance with its bundle."""
    assert reply.status_code < 500, reply.text[:500]
    media = reply.headers["content-type"]  # schemathesis' answers hold each header's values as a list
    assert (media[0] if isinstance(media, list) else media).startswith("application/json"), reply.text[:300]
    body = reply.json()
    if reply.status_code >= 400:
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
        assert evidence_files(node) == before, f"a refused report left evidence behind: {body}"
    else:
        assert reply.status_code == 201 and body["evidence_root"].startswith("0x"), body
        assert evidence_files(node) >= before  # the same report again is the same bundle


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_monitoring_route_never_fails_on_generated_reports(case, node, project):
    case.path_parameters = {**(case.path_parameters or {}), "project_id": project}
    mode = getattr(getattr(case.meta, "generation", None), "mode", None)
    if mode == GenerationMode.POSITIVE:
        case.body = satisfy_cross_field_rules(case.body)
    kwargs = call_kwargs(node, case)
    before = evidence_files(node)
    response = case.call(**kwargs)
    case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)
    assert_answer(node, response, before)


# --- explicit extremes at every numeric field -----------------------------------------------------------------

DEPTH = 60  # nested arrays within the node's JSON depth limit (64) at a number's place
EXTREMES = {
    "zero": "0",
    "negative zero": "-0.0",
    "largest float": "1e308",
    "most negative float": "-1e308",
    "2^63": str(2**63),
    "2^64 - 1": str(2**64 - 1),
    "2^64": str(2**64),
    "400 digits": "1" + "0" * 400,
    "negative 400 digits": "-1" + "0" * 400,
    "smallest float": "5e-324",
    "negative smallest float": "-5e-324",
    "under the smallest float": "1e-400",
    "infinite": "1e999",
    "negative infinite": "-1e999",
    "NaN": "NaN",
    "Infinity": "Infinity",
    "a number as a string": '"1e308"',
    "an infinite number as a string": '"1e999"',
    "true": "true",
    "null": "null",
    "a list": "[1e308]",
    "an object": '{"count": 18446744073709551615}',
    "nested lists": "[" * DEPTH + "1e308" + "]" * DEPTH,
}
PLACEHOLDER = '"@@EXTREME@@"'
FIELDS = [path for path, _ in numeric_leaves(full_body())]


@pytest.mark.parametrize("literal", EXTREMES.values(), ids=EXTREMES.keys())
def test_extreme_numbers_at_every_numeric_field_are_answered_cleanly(node, project, literal):
    import json

    for path in FIELDS:
        text = json.dumps(with_value(full_body(), path, "@@EXTREME@@"), ensure_ascii=False)
        assert PLACEHOLDER in text
        before = evidence_files(node)
        reply = node.call(
            "POST",
            f"/v1/projects/{project}/monitoring",
            "park",
            content=text.replace(PLACEHOLDER, literal).encode(),
            headers={"content-type": "application/json"},
        )
        assert_answer(node, reply, before)
        if reply.status_code == 422 and reply.json()["error"]["code"] == "invalid_monitoring":
            assert reply.json()["error"]["message"].startswith(f"{where(path)}: "), (where(path), reply.json())


# --- what the fuzzing found -----------------------------------------------------------------------------------


@pytest.mark.parametrize("area", [5e-324, 1e-310, 1e-300])
def test_a_vanishing_tree_area_is_flagged_at_a_finite_density(area):
    """trees.area_m2 = 5e-324 is "more than 0": its hectares (area / 10,000) are 0.0 and the density check
    divided by zero (a 500); 1e-300 gave an infinite density, which no JSON answer holds."""
    from datetime import date

    from registry.accounting import parse_monitoring
    from registry.plausibility import check_plausibility

    report = {"period": {"start": "2025-01-01", "end": "2025-12-31"},
              "trees": {"t1": [], "t2": [{"species": "香樟", "dbh_cm": 25.0, "count": 10_000_000}]}}  # fmt: skip
    flags = check_plausibility(parse_monitoring(report, today=date(2026, 1, 1)), None, tree_area_m2=area).flags
    (flag,) = [f for f in flags if f.code == "stems_per_ha_out_of_range"]
    assert flag.observed == sys.float_info.max or 0 < flag.observed < sys.float_info.max


@pytest.mark.parametrize("area", [5e-324, 1e-300])
def test_a_vanishing_tree_area_over_http_is_a_flag_not_a_500(node, project, area):
    if not parser_has_trees_area():
        pytest.skip("registry.accounting does not take trees.area_m2 yet")
    report = full_body()
    report["trees"]["area_m2"] = area
    before = evidence_files(node)
    reply = node.call("POST", f"/v1/projects/{project}/monitoring", "park", json=report)
    assert_answer(node, reply, before)
    assert reply.status_code == 201, reply.text[:500]
    codes = [flag["code"] for flag in reply.json()["accounting"]["plausibility"]["flags"]]
    assert "stems_per_ha_out_of_range" in codes
