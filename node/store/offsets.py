"""Checkout offsets and their orders."""

import time
from typing import Any

import orjson

from node.store.base import StoreBase


class Offsets(StoreBase):
    def known_orders(self, order_ids: list[str]) -> list[str]:
        """Which of these order ids were offset before."""
        found: list[str] = []
        with self.reading() as db:
            for start in range(0, len(order_ids), 500):
                chunk = order_ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                found += [
                    r[0] for r in db.execute(f"SELECT order_id FROM offset_order WHERE order_id IN ({marks})", chunk)
                ]
        return found

    def reserve_offset(
        self, *, root: str, account: str, orders: list[tuple[str, int, str]], total: int, intent_id: int
    ) -> int:
        """Reserves an offset's order ids (each order is offset once: its id is the key) under its intent,
        as a `pending` offset shown to nobody until its retirement is mined; returns the offset id.
        Call inside the intent's transaction: a duplicate order raises sqlite3.IntegrityError."""
        with self.transaction() as db:
            offset_id = db.execute(
                "INSERT INTO offset_batch (root, account, orders, total_grams, retirements, created_at, state,"
                " intent_id) VALUES (?,?,?,?, '[]', ?, 'pending', ?) RETURNING id",
                (root, account, len(orders), total, int(time.time()), intent_id),
            ).fetchone()[0]
            db.executemany(
                "INSERT INTO offset_order (order_id, offset_id, leaf_index, grams, breakdown) VALUES (?,?,?,?,?)",
                [(order_id, offset_id, i, grams, breakdown) for i, (order_id, grams, breakdown) in enumerate(orders)],
            )
        assert offset_id is not None
        return int(offset_id)

    def complete_offset(self, offset_id: int, retirements: list[dict[str, Any]]) -> None:
        self.execute(
            "UPDATE offset_batch SET state = 'done', retirements = ? WHERE id = ?",
            (orjson.dumps(retirements).decode(), offset_id),
        )

    def release_offset(self, offset_id: int) -> None:
        """Gives a failed offset's order ids back."""
        with self.transaction() as db:
            db.execute("DELETE FROM offset_order WHERE offset_id = ?", (offset_id,))
            db.execute("DELETE FROM offset_batch WHERE id = ? AND state = 'pending'", (offset_id,))

    def reserved_offset_grams(self, account: str) -> dict[int, int]:
        """Grams of each batch that the account's offsets in flight will retire (not yet in the index)."""
        reserved: dict[int, int] = {}
        for row in self.rows(
            "SELECT i.request FROM intent i JOIN offset_batch o ON o.intent_id = i.id"
            " WHERE o.account = ? AND o.state = 'pending'",
            (account,),
        ):
            for batch_id, grams in orjson.loads(row["request"])["plan"]:
                reserved[batch_id] = reserved.get(batch_id, 0) + grams
        return reserved

    def offset(self, offset_id: int) -> dict[str, Any] | None:
        with self.reading() as db:
            row = db.execute(
                "SELECT id, root, account, orders, total_grams, retirements, created_at FROM offset_batch"
                " WHERE id = ? AND state = 'done'",
                (offset_id,),
            ).fetchone()
        if row is None:
            return None
        names = ("id", "root", "account", "orders", "total_grams", "retirements", "created_at")
        record = dict(zip(names, row, strict=True))
        record["retirements"] = orjson.loads(record["retirements"])
        return record

    def offset_orders(self, offset_id: int) -> list[tuple[str, int, str]]:
        with self.reading() as db:
            return db.execute(
                "SELECT order_id, grams, breakdown FROM offset_order WHERE offset_id = ? ORDER BY leaf_index",
                (offset_id,),
            ).fetchall()

    def order(self, order_id: str) -> tuple[int, int, int, str] | None:
        """(offset id, leaf index, grams, breakdown JSON) of an offset order."""
        with self.reading() as db:
            return db.execute(
                "SELECT o.offset_id, o.leaf_index, o.grams, o.breakdown FROM offset_order o"
                " JOIN offset_batch b ON b.id = o.offset_id WHERE o.order_id = ? AND b.state = 'done'",
                (order_id,),
            ).fetchone()
