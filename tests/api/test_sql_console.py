"""The regulator's SQL console against abuse (issue 18): JSON-safe answers, refused functions, time, memory and
size bounds enforced in worker processes, the indexer untouched, and the schema endpoint."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from node.devflows import error_of, issued_batch
from tests.engines import needs_sqlite_console

pytestmark = needs_sqlite_console

SQL = "/v1/regulator/sql"
ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
# One call SQLite's progress handler never interrupts: a naive search of 500 kB in 1 MB, about 5 s of memcmp.
LONG_CALL = "SELECT instr(printf('%.999999c', 'a'), printf('%.499999c', 'a') || 'b')"


def sql(node, query: str, who: str = "regulator"):
    return node.call("POST", SQL, who, json={"query": query})


def rss_mb() -> float:
    """The test process's resident memory: the API, its indexer and its pool run in threads of it."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def last_block(node) -> int:
    return node.ok("POST", SQL, "regulator", json={"query": "SELECT last_block FROM checkpoint"})["rows"][0][0]


def test_blobs_and_odd_reals_answer_as_json_with_their_types(node):
    query = "SELECT x'00ff' AS b, CAST('ab' AS BLOB) AS c, 1e999 AS inf, -1e999 AS ninf, 'x' AS t, NULL AS n, 7, 1.5"
    result = node.ok("POST", SQL, "regulator", json={"query": query})
    assert result["rows"] == [["0x00ff", "0x6162", "Infinity", "-Infinity", "x", None, 7, 1.5]]
    assert result["column_types"] == ["blob", "blob", "real", "real", "text", "null", "integer", "real"]
    mixed = node.ok("POST", SQL, "regulator", json={"query": "SELECT x'01' UNION ALL SELECT 'a' UNION ALL SELECT NULL"})
    assert mixed["column_types"] == ["text|blob"] and mixed["truncated"] is False and mixed["truncated_by"] is None
    functions = (
        "SELECT json_extract(args, '$.amount'), args ->> '$.batchId', hex(tx_hash), date(block_time, 'unixepoch')"
    )
    node.ok("POST", SQL, "regulator", json={"query": functions + " FROM chain_event LIMIT 3"})
    each = node.ok("POST", SQL, "regulator", json={"query": "SELECT value FROM json_each('[1, 2]')"})
    assert each["rows"] == [[1], [2]]


def test_functions_off_the_allow_list_are_refused_by_name(node):
    refused = {"randomblob": "SELECT randomblob(1e9)", "zeroblob": "SELECT zeroblob(1000000000)",
               "load_extension": "SELECT load_extension('/tmp/x')", "random": "SELECT random()"}  # fmt: skip
    for name, query in refused.items():
        reply = sql(node, query)
        assert error_of(reply) == (403, "sql_forbidden") and f"{name}()" in reply.json()["error"]["message"]
    # what was refused before stays refused
    for statement in ("DELETE FROM balance", "ATTACH DATABASE '/tmp/x.db' AS x", "PRAGMA writable_schema = 1"):
        assert error_of(sql(node, statement)) == (403, "sql_forbidden")
    assert error_of(sql(node, "SELECT 1; SELECT 2")) == (422, "sql_error")


def test_hostile_queries_are_bounded_in_a_worker_and_the_indexer_keeps_indexing(node):
    pool = node.services.sql_pool()
    limit = node.settings.sql_time_limit_s
    before_block, before_rss, before_workers = last_block(node), rss_mb(), pool.pids()

    began = time.monotonic()
    assert error_of(sql(node, "SELECT printf('%.900000000c', 'a')"))[0] == 422  # too large or too long, never 1 GB
    assert time.monotonic() - began < 10

    # While one call burns a worker's CPU past the limit, the API writes and indexes.
    long_call: dict[str, object] = {}
    burner = threading.Thread(target=lambda: long_call.update(reply=sql(node, LONG_CALL)))
    burner.start()
    issued_batch(node)
    burner.join(timeout=60)
    assert error_of(long_call["reply"]) == (422, "sql_timeout")  # type: ignore[arg-type]
    assert last_block(node) > before_block

    began = time.monotonic()
    assert error_of(sql(node, ENDLESS)) == (422, "sql_timeout")
    assert time.monotonic() - began < limit + 3

    wide = "SELECT " + ", ".join(f"printf('%.999000c', '{i % 10}')" for i in range(199))  # 200 MB in one row
    reply = sql(node, wide)
    assert error_of(reply) == (422, "sql_too_large")

    too_long = "SELECT length(upper(printf('%.600000c', 'a')) || printf('%.600000c', 'a'))"
    assert error_of(sql(node, too_long)) == (422, "sql_too_large")  # over the 1 MB value limit at once

    assert node.ok("POST", SQL, "regulator", json={"query": "SELECT 42"})["rows"] == [[42]]
    after_workers = pool.pids()
    assert len(after_workers) == len(before_workers) and after_workers != before_workers  # killed ones replaced
    grown = rss_mb() - before_rss
    assert grown < 100, f"the API process grew by {grown:.0f} MB"


def test_the_answer_stops_at_the_byte_budget(node):
    query = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 100) SELECT printf('%.999000c', x) FROM c"
    )
    reply = sql(node, query)
    assert reply.status_code == 200 and len(reply.content) <= node.settings.sql_result_bytes + 1000
    result = reply.json()
    assert result["truncated_by"] == "result_bytes" and 0 < len(result["rows"]) < 100


def test_extra_queries_wait_a_bounded_time_then_503(node):
    pool = node.services.sql_pool()
    wait_s, pool.wait_s = pool.wait_s, 0.5
    try:
        with ThreadPoolExecutor(pool.size + 1) as running:
            replies = list(running.map(lambda _: sql(node, LONG_CALL), range(pool.size + 1)))
    finally:
        pool.wait_s = wait_s
    assert sorted(error_of(r) for r in replies) == [(422, "sql_timeout")] * pool.size + [(503, "sql_busy")]
    assert node.ok("POST", SQL, "regulator", json={"query": "SELECT 1"})["rows"] == [[1]]


def test_the_schema_lists_the_index_tables_with_their_columns(node):
    schema = node.ok("GET", "/v1/regulator/sql/schema", "regulator")
    tables = {t["name"]: t for t in schema["tables"]}
    assert {"chain_event", "batch", "balance", "retirement", "checkpoint", "alert"} <= set(tables)
    assert all(t["documented"] and all(c["documented"] for c in t["columns"]) for t in tables.values())
    batch = {c["name"]: c for c in tables["batch"]["columns"]}
    assert batch["id"]["primary_key"] and batch["quantity"]["type"] == "integer" and batch["status"]["description"]
    assert "count" in schema["functions"] and "randomblob" not in schema["functions"]
    assert schema["limits"]["max_value_bytes"] == node.settings.sql_max_value_bytes
    assert error_of(node.call("GET", "/v1/regulator/sql/schema", "park")) == (403, "forbidden")
    assert error_of(node.call("GET", "/v1/regulator/sql/schema")) == (401, "unauthenticated")
