"""Read-only SQL over the index for regulators: a read-only connection, an authorizer that allows
reading and nothing else, a time limit and a row cap."""

import sqlite3
import time
from pathlib import Path
from typing import Any

from node.errors import Forbidden, InvalidRequest

_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
_PRAGMA_OK = {"table_info", "table_list"}


def _authorizer(action: int, arg1: str | None, arg2: str | None, _db: str | None, _trigger: str | None) -> int:
    if action in _ALLOWED:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and arg1 in _PRAGMA_OK:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def run_readonly_sql(path: Path, query: str, *, time_limit_s: float, row_cap: int) -> dict[str, Any]:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        connection.execute("PRAGMA query_only = ON")
        connection.set_authorizer(_authorizer)
        deadline = time.monotonic() + time_limit_s
        connection.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        began = time.perf_counter()
        try:
            cursor = connection.execute(query)
            rows = cursor.fetchmany(row_cap + 1)
        except sqlite3.DatabaseError as exc:
            message = str(exc)
            if "interrupted" in message:
                raise InvalidRequest("sql_timeout", f"the query ran over {time_limit_s}s and was stopped") from None
            if "not authorized" in message or "readonly" in message:
                raise Forbidden("sql_forbidden", "only SELECT statements over the index are allowed") from None
            raise InvalidRequest("sql_error", message) from None
        except sqlite3.Warning as exc:  # more than one statement
            raise InvalidRequest("sql_error", str(exc)) from None
        columns = [d[0] for d in cursor.description] if cursor.description else []
        return {
            "columns": columns,
            "rows": [list(r) for r in rows[:row_cap]],
            "truncated": len(rows) > row_cap,
            "row_cap": row_cap,
            "seconds": round(time.perf_counter() - began, 4),
        }
    finally:
        connection.close()
