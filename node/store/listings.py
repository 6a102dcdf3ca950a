"""Listings and the parts of bundle listings."""

import time
from typing import Any

from node.store.base import StoreBase


class Listings(StoreBase):
    def create_listing(self, row: dict[str, Any], parts: list[tuple[int, int]]) -> int:
        """A listing, and for a bundle its (batch, grams) parts, in one transaction."""
        columns = (
            "seller",
            "batch_id",
            "quantity",
            "price_fen_per_tonne",
            "min_lot",
            "valid_from",
            "valid_until",
            "title",
            "description",
            "project_id",
            "vintage",
            "verifier",
            "region",
            "kind",
            "bundle",
        )
        with self.transaction() as db:
            cursor = db.execute(
                f"INSERT INTO listing ({', '.join(columns)}, created_at) VALUES ({', '.join('?' * len(columns))}, ?)"
                " RETURNING id",
                (*(row[c] for c in columns), int(time.time())),
            )
            listing_id = int(cursor.fetchone()[0])
            db.executemany(
                "INSERT INTO bundle_part (listing_id, batch_id, quantity) VALUES (?,?,?)",
                [(listing_id, batch_id, grams) for batch_id, grams in parts],
            )
        return listing_id

    def listings(self, *, seller: str | None = None, listing_id: int | None = None) -> list[dict[str, Any]]:
        clauses, params = ["1 = 1"], []
        if seller is not None:
            clauses.append("seller = ?")
            params.append(seller)
        if listing_id is not None:
            clauses.append("id = ?")
            params.append(listing_id)
        with self.reading() as db:
            cursor = db.execute(f"SELECT * FROM listing WHERE {' AND '.join(clauses)} ORDER BY id", params)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def withdraw_listing(self, listing_id: int) -> None:
        with self.transaction() as db:
            db.execute("UPDATE listing SET withdrawn = 1 WHERE id = ?", (listing_id,))
