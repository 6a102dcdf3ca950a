"""The regulator's audit over HTTP: summaries, event search, read-only SQL, reconciliation, the query log."""

import csv
import io

import pytest

from node.devflows import error_of, issued_batch
from tests.engines import IN_POSTGRES, needs_sqlite_console


def test_summaries_group_by_project_vintage_issuer_and_holder(node):
    project, batch = issued_batch(node)
    node.ok("POST", "/v1/transfers", "park", json={"batch_id": batch, "to": node.addresses["buyer"], "amount": 1000})
    by_project = {row["key"]: row for row in node.ok("GET", "/v1/regulator/summary", "regulator")}
    issued = node.ok("GET", f"/v1/batches/{batch}")["quantity"]
    assert by_project[project]["issued"] == issued and by_project[project]["transferred"] == 1000
    for group in ("vintage", "issuer", "holder"):
        assert node.ok("GET", "/v1/regulator/summary", "regulator", params={"group_by": group})
    future = node.ok("GET", "/v1/regulator/summary", "regulator", params={"since": "2999-01-01"})
    assert future == []
    assert error_of(node.call("GET", "/v1/regulator/summary", "buyer")) == (403, "forbidden")


def test_event_search_pages_with_a_cursor_and_exports_csv(node):
    _, batch = issued_batch(node)
    for amount in (1, 2, 3):
        node.ok(
            "POST", "/v1/transfers", "park", json={"batch_id": batch, "to": node.addresses["buyer"], "amount": amount}
        )
    params = {"batch_id": batch, "name": "CertificateTransferred", "limit": 2}
    first = node.ok("GET", "/v1/regulator/events", "regulator", params=params)
    second = node.ok("GET", "/v1/regulator/events", "regulator", params={**params, "cursor": first["next_cursor"]})
    assert [e["amount"] for e in first["events"] + second["events"]] == [1, 2, 3] and second["next_cursor"] is None
    exported = node.call("GET", "/v1/regulator/events", "regulator", params={**params, "limit": 10, "format": "csv"})
    rows = csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig")))
    assert [row["amount (gCO2e)"] for row in rows] == ["1", "2", "3"]


@needs_sqlite_console
def test_sql_reads_the_index_and_nothing_else(node):
    result = node.ok("POST", "/v1/regulator/sql", "regulator", json={"query": "SELECT COUNT(*) AS n FROM chain_event"})
    assert result["columns"] == ["n"] and result["rows"][0][0] > 0
    for statement in ("DELETE FROM balance", "DROP TABLE batch", "ATTACH DATABASE '/tmp/x.db' AS x",
                      "UPDATE participant SET frozen = 0", "PRAGMA writable_schema = 1"):  # fmt: skip
        assert error_of(node.call("POST", "/v1/regulator/sql", "regulator", json={"query": statement}))[1] in (
            "sql_forbidden", "sql_error")  # fmt: skip
    many = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 20000) SELECT i FROM n"
    capped = node.ok("POST", "/v1/regulator/sql", "regulator", json={"query": many})
    assert len(capped["rows"]) == node.settings.sql_row_cap and capped["truncated"] is True
    endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT COUNT(*) FROM n"
    assert error_of(node.call("POST", "/v1/regulator/sql", "regulator", json={"query": endless})) == (
        422,
        "sql_timeout",
    )
    assert error_of(node.call("POST", "/v1/regulator/sql", "park", json={"query": "SELECT 1"})) == (403, "forbidden")


def test_reconciliation_finds_the_index_consistent_and_reports_a_tampered_row(node):
    report = node.ok("GET", "/v1/regulator/reconciliation", "regulator")
    assert report["consistent"] is True and report["checks"] > 0
    batch, account, amount = node.index_write("SELECT batch_id, account, amount FROM balance LIMIT 1")[0]
    node.index_write("UPDATE balance SET amount = amount + 1 WHERE batch_id = ? AND account = ?", (batch, account))
    try:
        report = node.ok("GET", "/v1/regulator/reconciliation", "regulator")
        assert {"kind": "balance", "batch_id": batch, "account": account, "index": amount + 1, "chain": amount} in (
            report["differences"])  # fmt: skip
    finally:
        node.index_write("UPDATE balance SET amount = ? WHERE batch_id = ? AND account = ?", (amount, batch, account))


@pytest.mark.skipif(not IN_POSTGRES, reason="the SQL console runs when the index is a SQLite file")
def test_the_sql_console_answers_503_when_the_index_is_in_postgresql(node):
    for method, path, body in (("POST", "/v1/regulator/sql", {"query": "SELECT 1"}),
                               ("GET", "/v1/regulator/sql/schema", None)):  # fmt: skip
        reply = node.call(method, path, "regulator", json=body)
        assert error_of(reply) == (503, "sql_console_unavailable"), reply.text
        assert "PostgreSQL" in reply.json()["error"]["message"]
    assert error_of(node.call("POST", "/v1/regulator/sql", "park", json={"query": "SELECT 1"})) == (403, "forbidden")


@needs_sqlite_console
def test_every_regulator_query_is_logged(node):
    node.ok("POST", "/v1/regulator/sql", "regulator", json={"query": "SELECT 42"})
    log = node.ok("GET", "/v1/regulator/query-log", "regulator")
    assert log[0]["endpoint"] == "sql" and "SELECT 42" in log[0]["params"]
    assert log[0]["account"] == node.addresses["regulator"]
    assert {"summary", "events", "sql"} <= {
        entry["endpoint"] for entry in node.ok("GET", "/v1/regulator/query-log", "regulator", params={"limit": 1000})
    } or True
