"""Keeps a Besu account allowlist in step with the registry: a registered participant may send
transactions, a frozen one may not.

The allowlist is the network's base accounts (network.json beside the permissioning file: the
organisations' operators) and every registered participant that is not frozen. The node rewrites the
file (atomically, its nodes allowlist untouched) when that set changes, then asks its chain to reload it
(`perm_reloadPermissionsFromFile`, Besu's PERM API); a chain without that method (anvil) is not an error.
Nodes that read another copy of the file get it from their operators, as they get the genesis file.
"""

import json
import logging
import os
import sqlite3
import tomllib
from pathlib import Path

from node.chain.rpc import RpcClient, RpcError
from node.errors import ChainUnavailable, NetworkConfigError
from node.network.besu import permissions_toml

log = logging.getLogger(__name__)


class AllowlistKeeper:
    def __init__(self, path: Path, rpc: RpcClient | None = None) -> None:
        self.path = path
        self.rpc = rpc
        self.reloads = 0  # reloads the chain accepted (Besu), for tests and logs
        self._written: list[str] | None = None
        if not path.is_file():
            raise NetworkConfigError(f"no permissioning file at {path}")

    def base_accounts(self) -> list[str]:
        network = self.path.parent / "network.json"
        if not network.is_file():
            return []
        return [a.lower() for a in json.loads(network.read_text()).get("base_accounts", [])]

    def wanted(self, index: sqlite3.Connection) -> list[str]:
        rows = index.execute("SELECT address FROM participant WHERE frozen = 0").fetchall()
        return sorted(set(self.base_accounts()) | {str(row[0]).lower() for row in rows})

    def sync(self, index: sqlite3.Connection) -> bool:
        """Brings the file to what the index says; returns whether it changed."""
        accounts = self.wanted(index)
        if accounts == self._written:
            return False
        current = tomllib.loads(self.path.read_text())
        if sorted(a.lower() for a in current.get("accounts-allowlist", [])) == accounts:
            self._written = accounts
            return False
        text = permissions_toml(accounts, list(current.get("nodes-allowlist", [])))
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.path)
        self._written = accounts
        log.info("account allowlist now holds %d accounts", len(accounts))
        self._reload()
        return True

    def _reload(self) -> None:
        if self.rpc is None:
            return
        try:
            self.rpc.call("perm_reloadPermissionsFromFile")
            self.reloads += 1
        except (RpcError, ChainUnavailable) as error:
            # anvil and a Besu without the PERM API say the method is unknown: the file is still right, and
            # a Besu node reads it again when it restarts.
            log.info("the chain did not reload the allowlist: %s", error.message)
