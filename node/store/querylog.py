"""The log of every regulator query."""

import time
from typing import Any

import orjson

from node.store.base import StoreBase


class QueryLog(StoreBase):
    def log_query(self, *, account: str, endpoint: str, params: dict[str, Any], outcome: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO regulator_query (at, account, endpoint, params, outcome) VALUES (?,?,?,?,?)",
                (int(time.time()), account, endpoint, orjson.dumps(params, default=str).decode(), outcome),
            )

    def query_log(self, *, limit: int = 100) -> list[dict[str, Any]]:
        with self.reading() as db:
            rows = db.execute(
                "SELECT id, at, account, endpoint, params, outcome FROM regulator_query ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        names = ("id", "at", "account", "endpoint", "params", "outcome")
        return [dict(zip(names, r, strict=True)) for r in rows]
