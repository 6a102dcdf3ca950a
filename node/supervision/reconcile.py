"""Reconciliation: the index's derived state re-read from the chain, difference by difference."""

import sqlite3
from typing import Any

from node.chain.registry import INHERIT_BUFFER_SHARE
from node.index.queries import index_digest
from node.services import Services

_CHUNK = 100


def reconcile(services: Services, reader: sqlite3.Connection) -> dict[str, Any]:
    """Compares, at the index's checkpoint block, every balance, batch status, participant and project."""
    registry, rpc = services.registry, services.rpc
    block, events, digest = index_digest(connection=reader)
    at = hex(block)
    differences: list[dict[str, Any]] = []
    checks = 0

    def batch_calls(items: list[tuple[str, tuple[Any, ...]]]) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        for start in range(0, len(items), _CHUNK):
            chunk = items[start : start + _CHUNK]
            calls = []
            for name, args in chunk:
                codec = registry.abi.function(name)
                calls.append(("eth_call", [{"to": registry.address, "data": "0x" + codec.encode_call(args).hex()}, at]))
            results = rpc.call_batch(calls)
            out += [
                registry.abi.function(n).decode_output(bytes.fromhex(r[2:]))
                for (n, _), r in zip(chunk, results, strict=True)
            ]
        return out

    balances = reader.execute("SELECT batch_id, account, amount FROM balance").fetchall()
    for (batch, account, amount), (on_chain,) in zip(
        balances, batch_calls([("balanceOf", (account, batch)) for batch, account, _ in balances]), strict=True
    ):
        checks += 1
        if on_chain != amount:
            differences.append(
                {"kind": "balance", "batch_id": batch, "account": account, "index": amount, "chain": on_chain}
            )
    batches = reader.execute("SELECT id, status FROM batch").fetchall()
    for (batch, status), (on_chain,) in zip(
        batches, batch_calls([("batchStatus", (b,)) for b, _ in batches]), strict=True
    ):
        checks += 1
        if on_chain != status:
            differences.append({"kind": "batch_status", "batch_id": batch, "index": status, "chain": on_chain})
    participants = reader.execute("SELECT address, organisation, roles, frozen FROM participant").fetchall()
    for (address, organisation, roles, frozen), (record,) in zip(
        participants, batch_calls([("participant", (a,)) for a, *_ in participants]), strict=True
    ):
        checks += 1
        if (record[0], record[1], bool(record[3])) != (organisation, roles, bool(frozen)):
            differences.append(
                {
                    "kind": "participant",
                    "account": address,
                    "index": [organisation, roles, bool(frozen)],
                    "chain": [record[0], record[1], bool(record[3])],
                }
            )
    projects = reader.execute(
        "SELECT id, owner, status, issued_until, batch_count, buffer_share_bps FROM project"
    ).fetchall()
    for (project, owner, status, until, count, share), (record,) in zip(
        projects, batch_calls([("project", (p,)) for p, *_ in projects]), strict=True
    ):
        checks += 1
        own_share = INHERIT_BUFFER_SHARE if share is None else share
        if (record[0].lower(), record[1], record[2], record[3], record[4]) != (owner, status, until, count, own_share):
            differences.append({"kind": "project", "project_id": project})
    return {
        "block": block,
        "events": events,
        "digest": digest,
        "checks": checks,
        "differences": differences,
        "consistent": not differences,
    }
