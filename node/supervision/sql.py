"""Read-only SQL over the index for regulators, as one console query runs inside its worker process
(node.supervision.sqlworker): a read-only connection, an authorizer that allows reading and an allow-list
of functions, SQLite's own size limits, a time limit, and a row cap and byte budget on the answer.

The answer is built here as the final JSON body, so the API process never holds more than the budget."""

import json
import math
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from node.errors import CodedError, Forbidden, InvalidRequest

_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE}
_PRAGMA_OK = {"table_info", "table_list"}
_TABLE_VALUED = ("json_each('[]')", "json_tree('[]')", "pragma_table_info('sqlite_master')", "pragma_table_list")

# What a regulator's analysis needs and nothing that makes bytes out of nothing (randomblob, zeroblob), reads
# the environment (load_extension, sqlite_* introspection) or is non-deterministic. printf/format stay: the
# length limit below stops them at max_value_bytes before they allocate (the console tests prove it).
ALLOWED_FUNCTIONS = frozenset(
    {
        # aggregates and window functions
        "count", "sum", "avg", "min", "max", "total", "group_concat",
        "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead",
        "first_value", "last_value", "nth_value",
        # scalars
        "abs", "round", "sign", "length", "lower", "upper", "substr", "substring", "trim", "ltrim", "rtrim",
        "coalesce", "ifnull", "nullif", "iif", "instr", "like", "glob", "replace", "hex", "quote", "typeof",
        "char", "unicode", "printf", "format", "likely", "unlikely", "likelihood",
        # dates
        "date", "time", "datetime", "julianday", "strftime", "unixepoch",
        # maths
        "ceil", "ceiling", "floor", "trunc", "mod", "pow", "power", "sqrt", "exp", "ln", "log", "log2", "log10",
        # JSON (the index keeps event arguments and alert evidence as JSON text)
        "json", "json_valid", "json_type", "json_extract", "->", "->>", "json_array", "json_array_length",
        "json_object", "json_quote", "json_group_array", "json_group_object", "json_insert", "json_replace",
        "json_set", "json_remove", "json_patch", "json_each", "json_tree",
    }
)  # fmt: skip


@dataclass(frozen=True)
class SqlLimits:
    time_limit_s: float
    row_cap: int
    max_value_bytes: int  # SQLITE_LIMIT_LENGTH: the largest string or blob any expression may make
    result_bytes: int  # the JSON body's rows stop before passing this

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# SQLite's other limits, tightened to what a console query can plausibly need.
_SQLITE_LIMITS = {
    sqlite3.SQLITE_LIMIT_SQL_LENGTH: 100_000,  # the request allows 10,000 characters
    sqlite3.SQLITE_LIMIT_COLUMN: 200,
    sqlite3.SQLITE_LIMIT_EXPR_DEPTH: 200,
    sqlite3.SQLITE_LIMIT_COMPOUND_SELECT: 50,
    sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH: 1_000,
    sqlite3.SQLITE_LIMIT_ATTACHED: 0,
    sqlite3.SQLITE_LIMIT_WORKER_THREADS: 0,
}


class _Authorizer:
    """Allows reading and the allow-listed functions; remembers the last refused function to name it."""

    def __init__(self) -> None:
        self.refused_function: str | None = None

    def __call__(self, action: int, arg1: str | None, arg2: str | None, _db: str | None, _trig: str | None) -> int:
        if action in _ALLOWED:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION:
            if (arg2 or "").lower() in ALLOWED_FUNCTIONS:
                return sqlite3.SQLITE_OK
            self.refused_function = arg2
            return sqlite3.SQLITE_DENY
        if action == sqlite3.SQLITE_PRAGMA and arg1 in _PRAGMA_OK:
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY


_CLASS = {int: "integer", float: "real", str: "text", bytes: "blob", type(None): "null"}
_CLASS_ORDER = ("integer", "real", "text", "blob")


def _cell(value: Any) -> Any:
    """A JSON-safe value: blobs as 0x-hex, non-finite reals by their JavaScript names."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    return value


def _column_type(seen: set[str]) -> str:
    """One storage class, 'null' when a column held nothing else, or the classes seen joined by '|'."""
    classes = [c for c in _CLASS_ORDER if c in seen]
    return "|".join(classes) if classes else "null"


def _refusal(exc: Exception, authorizer: _Authorizer, limits: SqlLimits) -> CodedError:
    message = str(exc)
    # The worker's temporary files are capped by RLIMIT_FSIZE: a write past it fails with EFBIG, which SQLite
    # reports as a disk I/O error (the index itself is only read, through the page cache).
    if isinstance(exc, MemoryError) or any(s in message for s in ("out of memory", "disk is full", "disk I/O error")):
        return InvalidRequest("sql_too_large", "the query needs more memory or temporary space than it may have")
    if "too big" in message:
        return InvalidRequest("sql_too_large", f"a value would exceed {limits.max_value_bytes} bytes: {message}")
    if "interrupted" in message:
        return InvalidRequest("sql_timeout", f"the query ran over {limits.time_limit_s}s and was stopped")
    if "not authorized" in message or "readonly" in message:
        if authorizer.refused_function is not None:
            name = authorizer.refused_function
            return Forbidden("sql_forbidden", f"the function {name}() is not allowed in the console")
        return Forbidden("sql_forbidden", "only SELECT statements over the index are allowed")
    return InvalidRequest("sql_error", message)


def run_readonly_sql(path: Path, query: str, limits: SqlLimits) -> tuple[dict[str, Any], bytes]:
    """Runs one query: (a short summary for the query log, the JSON body of the answer). Raises CodedError."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    authorizer = _Authorizer()
    try:
        connection.execute("PRAGMA query_only = ON")
        connection.execute("PRAGMA busy_timeout = 1000")
        connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, limits.max_value_bytes)
        for limit, value in _SQLITE_LIMITS.items():
            connection.setlimit(limit, value)
        # A table-valued function's first use declares its table, which the authorizer sees as an UPDATE of
        # sqlite_master; made here, before the authorizer, it is not declared again by the query.
        for table_valued in _TABLE_VALUED:
            connection.execute(f"SELECT * FROM {table_valued} LIMIT 0").fetchall()
        connection.set_authorizer(authorizer)
        deadline = time.monotonic() + limits.time_limit_s
        connection.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        began = time.perf_counter()
        try:
            cursor = connection.execute(query)
            columns = [d[0] for d in cursor.description] if cursor.description else []
            rows, seen, truncated_by = _collect(cursor, len(columns), limits)
        except (sqlite3.Error, MemoryError) as exc:
            raise _refusal(exc, authorizer, limits) from None
        except sqlite3.Warning as exc:  # more than one statement
            raise InvalidRequest("sql_error", str(exc)) from None
        head = {
            "columns": columns,
            "column_types": [_column_type(s) for s in seen],
            "truncated": truncated_by is not None,
            "truncated_by": truncated_by,
            "row_cap": limits.row_cap,
            "result_bytes_cap": limits.result_bytes,
            "seconds": round(time.perf_counter() - began, 4),
        }
        # The rows are already JSON; the body splices them in rather than encoding them twice.
        opening = json.dumps(head, ensure_ascii=False)[:-1].encode()
        body = opening + b', "rows": [' + b",".join(rows) + b"]}"
        return {"rows": len(rows), "truncated_by": truncated_by}, body
    finally:
        connection.close()


def _collect(cursor: sqlite3.Cursor, width: int, limits: SqlLimits) -> tuple[list[bytes], list[set[str]], str | None]:
    """Each row as JSON bytes, until the row cap or the byte budget; the storage classes seen per column."""
    rows: list[bytes] = []
    seen: list[set[str]] = [set() for _ in range(width)]
    spent = 0
    while len(rows) <= limits.row_cap:  # fetches one row past the cap to know whether it truncated
        batch = cursor.fetchmany(min(256, limits.row_cap + 1 - len(rows)))
        if not batch:
            return rows, seen, None
        for row in batch:
            if len(rows) == limits.row_cap:
                return rows, seen, "row_cap"
            # A cheap lower bound first, so one wide row over the budget is never encoded.
            if spent + sum(len(v) for v in row if isinstance(v, str | bytes)) > limits.result_bytes:
                return rows, seen, "result_bytes"
            encoded = json.dumps([_cell(v) for v in row], ensure_ascii=False, allow_nan=False).encode()
            spent += len(encoded) + 1
            if spent > limits.result_bytes:
                return rows, seen, "result_bytes"
            for i, value in enumerate(row):
                seen[i].add(_CLASS[type(value)])
            rows.append(encoded)
    return rows, seen, "row_cap"
