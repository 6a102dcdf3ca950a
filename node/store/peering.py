"""Evidence sharing's records (node.evidence.peer): nonces seen, grants, and the access log of both sides."""

import time
from typing import Any

from node.store.base import StoreBase
from node.store.dialect import IntegrityError

NONCE_KEEP_S = 900  # three times the accepted clock skew: older nonces are refused by their time anyway


class Peering(StoreBase):
    def use_peer_nonce(self, signer: str, nonce: str) -> bool:
        """Records a signed request's nonce; False if the signer used it before (a replay)."""
        now = int(time.time())
        try:
            with self.transaction() as db:
                db.execute("DELETE FROM peer_nonce WHERE seen_at < ?", (now - NONCE_KEEP_S,))
                db.execute("INSERT INTO peer_nonce (signer, nonce, seen_at) VALUES (?,?,?)", (signer, nonce, now))
        except IntegrityError:
            return False
        return True

    def grant_evidence(self, root: str, organisation: int, granted_by: str) -> bool:
        """False if the organisation held the grant already."""
        return (
            self.changed(
                "INSERT INTO evidence_grant (root, organisation, granted_by, granted_at) VALUES (?,?,?,?)"
                " ON CONFLICT DO NOTHING",
                (root.lower(), organisation, granted_by.lower(), int(time.time())),
            )
            == 1
        )

    def evidence_grants(self, root: str) -> list[dict[str, Any]]:
        return self.rows(
            "SELECT organisation, granted_by, granted_at FROM evidence_grant WHERE root = ? ORDER BY organisation",
            (root.lower(),),
        )

    def log_peer_access(self, *, direction: str, root: str, digest: str | None, account: str,
                        organisation: int | None, peer: str | None, outcome: str) -> None:  # fmt: skip
        assert direction in ("served", "fetched", "granted")
        self.execute(
            "INSERT INTO peer_access (direction, root, digest, account, organisation, peer, outcome, at)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (direction, root.lower(), digest, account.lower(), organisation, peer, outcome, int(time.time())),
        )

    def peer_access_log(self, root: str) -> list[dict[str, Any]]:
        return self.rows(
            "SELECT direction, digest, account, organisation, peer, outcome, at FROM peer_access WHERE root = ?"
            " ORDER BY id",
            (root.lower(),),
        )
