"""The transaction journal: every signed transaction, stored with its nonce before it is sent.

Its ids are the order in which the node sent its transactions; after a chain lost blocks, the node
re-sends, in that order, each one the canonical chain lacks (node.writes.recovery).
"""

import time
from typing import Any

import orjson

from node.store.base import StoreBase

_COLUMNS = (
    "id, intent_id, account, nonce, tx_hash, raw, state, block_number, tx_index, status, created_at, resent, id_check"
)


class Journal(StoreBase):
    def journal_tx(self, *, intent_id: int | None, account: str, nonce: int, tx_hash: str, raw: str) -> int:
        """Records a signed transaction as `sent` (it is sent right after: a crash in between re-sends it)."""
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO chain_tx (intent_id, account, nonce, tx_hash, raw, state, created_at)"
                " VALUES (?,?,?,?,?, 'sent', ?) RETURNING id",
                (intent_id, account.lower(), nonce, tx_hash.lower(), raw, int(time.time())),
            )
            journal_id = int(cursor.fetchone()[0])
            if intent_id is not None:
                db.execute(
                    "UPDATE intent SET state = 'sent', updated_at = ? WHERE id = ? AND state = 'reserved'",
                    (int(time.time()), intent_id),
                )
        return journal_id

    def tx_mined(self, tx_hash: str, *, block_number: int, tx_index: int, status: int) -> None:
        self.execute(
            "UPDATE chain_tx SET state = 'mined', block_number = ?, tx_index = ?, status = ? WHERE tx_hash = ?",
            (block_number, tx_index, status, tx_hash.lower()),
        )

    def tx_unmined(self, tx_hash: str) -> None:
        """The chain lost the block that held it: it is pending again (and will be re-sent)."""
        self.execute(
            "UPDATE chain_tx SET state = 'sent', block_number = NULL, tx_index = NULL WHERE tx_hash = ?",
            (tx_hash.lower(),),
        )

    def tx_refused(self, tx_hash: str, state: str, why: str) -> None:
        """`rejected`: the chain refused it, it was never pending; `dropped`: its nonce went to another."""
        assert state in ("rejected", "dropped")
        self.execute(
            "UPDATE chain_tx SET state = ?, answer = ? WHERE tx_hash = ?",
            (state, orjson.dumps({"why": why}).decode(), tx_hash.lower()),
        )

    def tx(self, tx_hash: str) -> dict[str, Any] | None:
        rows = self.rows(f"SELECT {_COLUMNS} FROM chain_tx WHERE tx_hash = ?", (tx_hash.lower(),))
        return rows[0] if rows else None

    def txs_of_intent(self, intent_id: int) -> list[dict[str, Any]]:
        return self.rows(f"SELECT {_COLUMNS} FROM chain_tx WHERE intent_id = ? ORDER BY id", (intent_id,))

    def txs_to_check(self, from_block: int) -> list[dict[str, Any]]:
        """Transactions the chain may lack: pending ones, and mined ones at or above `from_block`, in the
        order they first reached the chain (mined ones by block and position, then pending ones as sent)."""
        return self.rows(
            f"SELECT {_COLUMNS} FROM chain_tx WHERE state = 'sent'"
            f" OR (block_number >= ? AND {self.dialect.unindexed}state = 'mined')"
            " ORDER BY CASE WHEN state = 'mined' THEN 0 ELSE 1 END, block_number, tx_index, id",
            (from_block,),
        )

    def pending_txs(self) -> list[dict[str, Any]]:
        return self.rows(f"SELECT {_COLUMNS} FROM chain_tx WHERE state = 'sent' ORDER BY id")

    def highest_journal_nonce(self, account: str) -> int | None:
        rows = self.rows(
            "SELECT MAX(nonce) AS n FROM chain_tx WHERE account = ? AND state IN ('sent', 'mined')", (account.lower(),)
        )
        return None if rows[0]["n"] is None else int(rows[0]["n"])

    def tx_resent(self, tx_hash: str) -> None:
        self.execute("UPDATE chain_tx SET resent = 1, id_check = NULL WHERE tx_hash = ?", (tx_hash.lower(),))

    def resent_to_verify(self) -> list[dict[str, Any]]:
        """Re-sent transactions, mined again, whose answered ids are not compared with the chain's yet (read
        through their partial index: `+state` keeps the planner off the state index, which nearly every
        row matches)."""
        return self.rows(
            f"SELECT {_COLUMNS} FROM chain_tx WHERE resent = 1 AND id_check IS NULL AND {self.dialect.unindexed}state ="
            " 'mined' ORDER BY id"
        )

    def tx_id_check(self, tx_hash: str, result: str) -> None:
        self.execute("UPDATE chain_tx SET id_check = ? WHERE tx_hash = ?", (result, tx_hash.lower()))

    def highest_mined_block(self) -> int:
        """The highest block holding one of the node's transactions (-1 if none); only mined transactions have
        a block, and the partial index on it answers without reading the journal."""
        rows = self.rows("SELECT MAX(block_number) AS b FROM chain_tx WHERE block_number IS NOT NULL")
        return -1 if rows[0]["b"] is None else int(rows[0]["b"])

    def journal_summary(self) -> dict[str, int]:
        row = self.rows(
            "SELECT COALESCE(SUM(CASE WHEN state = 'sent' THEN 1 ELSE 0 END), 0) AS pending,"
            " COALESCE(SUM(resent), 0) AS resent, COALESCE(SUM(CASE WHEN state = 'dropped' THEN 1 ELSE 0 END), 0)"
            " AS dropped, COALESCE(SUM(CASE WHEN id_check IS NOT NULL AND id_check != 'same' THEN 1 ELSE 0 END), 0)"
            " AS ids_changed FROM chain_tx"
        )[0]
        live = self.rows("SELECT COUNT(*) AS n FROM intent WHERE state IN ('reserved', 'sent')")[0]["n"]
        return {"live_intents": int(live), **{k: int(v) for k, v in row.items()}}
