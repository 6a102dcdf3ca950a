"""Rows inserted into a SQLite table by a helper thread while the caller goes on computing the next ones.

SQLite releases the interpreter's lock while it executes a statement, but `executemany` takes it back for every
row it binds, so a thread writing row by row and a thread computing rows take turns. Here rows go many to a
statement (up to SQLite's limit on parameters), executed on a thread of their own when an executor is given
(the connection must then allow use from another thread): the B-tree work runs on the other core while the
caller applies the next events. Without one they are executed in the caller's thread. The interface is that
of PostgreSQL's COPY stream (node.store.dialect.CopyStream): the connection takes no other statement until
`pause` returns.
"""

import contextlib
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import chain
from typing import Any

# SQLite's default limit on a statement's parameters (SQLITE_MAX_VARIABLE_NUMBER, 32,766 since 3.32).
MAX_PARAMETERS = 32_766


class SqliteInsertStream:
    def __init__(self, connection: Any, executor: ThreadPoolExecutor | None, table: str, columns: Sequence[str],
                 *, rows_per_statement: int | None = None) -> None:  # fmt: skip
        self._connection = connection
        self._executor = executor
        self._per_statement = rows_per_statement or MAX_PARAMETERS // len(columns)
        self._head = f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES '
        self._one = f"({', '.join('?' * len(columns))})"
        self._rows: list[tuple[Any, ...]] = []
        self._pending: list[Future[Any]] = []

    def write(self, row: tuple[Any, ...]) -> None:
        self._rows.append(row)
        if len(self._rows) >= self._per_statement:
            self._send()

    def pause(self) -> None:
        """Inserts what is left; every row written so far is in the table when this returns (or its error is
        raised here)."""
        if self._rows:
            self._send()
        pending, self._pending = self._pending, []
        try:
            for future in pending:
                future.result()
        except BaseException:
            _settle(pending)
            raise

    def abort(self) -> None:
        """Drops what is not sent and waits for what is; the caller rolls its transaction back."""
        self._rows = []
        pending, self._pending = self._pending, []
        _settle(pending)

    def _send(self) -> None:
        rows, self._rows = self._rows, []
        sql = self._head + ", ".join([self._one] * len(rows))
        if self._executor is None:
            _execute(self._connection, sql, rows)
        else:
            self._pending.append(self._executor.submit(_execute, self._connection, sql, rows))


def _execute(connection: Any, sql: str, rows: list[tuple[Any, ...]]) -> None:
    connection.execute(sql, list(chain.from_iterable(rows)))


def _settle(pending: list[Future[Any]]) -> None:
    """Waits for every statement sent, so that none runs after the caller's rollback."""
    for future in pending:
        with contextlib.suppress(BaseException):
            future.result()
