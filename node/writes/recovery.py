"""Re-sending what the chain lacks.

After a crash, a reorg, or a chain that came back from an older state, some journalled transactions are
missing from the canonical chain: ones never delivered, and ones mined in blocks the chain lost. Each is
re-sent as it was signed (same nonce, same hash), in the order it first reached the chain, before any new
transaction: on a chain where this node is the only writer the same transactions land again in the same
order and every id the node answered with is given again. With other writers a nonce may have gone to
another transaction (the journalled one is then `dropped` and its intent fails), or an id may differ: both
are reported.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from node.chain.rpc import RpcClient, RpcError
from node.chain.sender import SEND_GATE, NonceManager, Receipt, already_known
from node.errors import ChainUnavailable
from node.store import Store

log = logging.getLogger("sinknode.recovery")
_RECEIPTS_PER_CALL = 100
# How long a re-sent transaction is waited for before another account's goes out (see `_in_chain_order`);
# past this, the rest of the recovery no longer waits (and says so).
_MINED_WAIT_S = 5.0


@dataclass
class RecoveryReport:
    checked: int = 0
    resent: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


def _receipts(rpc: RpcClient, hashes: list[str]) -> list[dict[str, Any] | None]:
    found: list[dict[str, Any] | None] = []
    for start in range(0, len(hashes), _RECEIPTS_PER_CALL):
        chunk = hashes[start : start + _RECEIPTS_PER_CALL]
        found += rpc.call_batch([("eth_getTransactionReceipt", [h]) for h in chunk])
    return found


def _in_chain_order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`rows` (in the order they first reached the chain: mined ones by block, then pending ones as sent),
    with each account's transactions in nonce order: a pending one whose mining the journal never recorded
    can have a lower nonce than one recorded mined, and sent after it, it would leave a gap that holds the
    account's later transactions back while other accounts' go first. Each one is moved just before the first
    of its account with a higher nonce."""
    by_account: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_account.setdefault(row["account"], []).append(row)
    for queue in by_account.values():
        queue.sort(key=lambda r: r["nonce"])
    ordered: list[dict[str, Any]] = []
    placed: set[str] = set()
    for row in rows:
        for earlier in by_account[row["account"]]:
            if earlier["nonce"] > row["nonce"]:
                break
            if earlier["tx_hash"] not in placed:
                placed.add(earlier["tx_hash"])
                ordered.append(earlier)
    return ordered


class Recovery:
    def __init__(self, rpc: RpcClient, store: Store, *, on_dropped: Callable[[dict[str, Any]], None]) -> None:
        self.rpc = rpc
        self.store = store
        self.on_dropped = on_dropped

    def resend_missing(self, from_block: int | None = None) -> RecoveryReport:
        """Checks journalled transactions (pending ones, and mined ones from `from_block` on; None: pending
        only) against the chain and re-sends, in order, every one it lacks. Holds every new send back."""
        report = RecoveryReport()
        with SEND_GATE:
            if from_block is None:
                # Pending ones only, unless the chain lost blocks that held mined ones: then those go first.
                # (The reconciler re-sends pending transactions a few seconds old; after a chain restart it
                # could do so before a send or the indexer noticed the loss, and a pending transaction of one
                # account would take the retirement or batch id an answered, lost one of another had.)
                head = self.rpc.block_number()
                if head < self.store.highest_mined_block():
                    from_block = head + 1
            rows = self.store.txs_to_check(from_block) if from_block is not None else self.store.pending_txs()
            if not rows:
                return report
            report.checked = len(rows)
            receipts = _receipts(self.rpc, [r["tx_hash"] for r in rows])
            lacking = []
            for row, receipt in zip(rows, receipts, strict=True):
                if receipt is None:
                    lacking.append(row)
                    if row["block_number"] is not None:
                        self.store.tx_unmined(row["tx_hash"])
                else:
                    self._record(row["tx_hash"], receipt)
            self._resend_in_order(_in_chain_order(lacking), report)
            if lacking:
                # Every cached nonce may be wrong now; the next send of each account reads it again.
                NonceManager.forget(self.rpc.url)
        if report.resent or report.dropped:
            log.warning("recovery: %d re-sent, %d dropped of %d checked", len(report.resent), len(report.dropped),
                        report.checked)  # fmt: skip
        return report

    def _resend_in_order(self, rows: list[dict[str, Any]], report: RecoveryReport) -> None:
        """Re-sends `rows` so that the chain mines them in this very order.

        Sending them in order is not enough: transactions that wait in the pool together are put into one
        block in an order of the chain's choosing (anvil picked another account's transaction first, and two
        retirements swapped their ids; an issuance ran before the project registration it needs, and failed).
        The order within one account is the nonce's; so before a transaction of another account goes out,
        the last one re-sent is waited for until it is mined (its receipt is recorded)."""
        waiting = True
        batch: list[dict[str, Any]] = []  # re-sent, same account, not yet seen mined
        for i, row in enumerate(rows):
            before = len(report.resent)
            self._resend(row, report)
            if len(report.resent) > before:
                batch.append(row)
            following = rows[i + 1] if i + 1 < len(rows) else None
            if batch and waiting and (following is None or following["account"] != row["account"]):
                waiting = self._await_mined(batch)
                batch = []

    def _await_mined(self, batch: list[dict[str, Any]]) -> bool:
        """Waits until the last of `batch` is mined and records all their receipts; False if it took too long."""
        deadline = time.monotonic() + _MINED_WAIT_S
        pause = 0.0005
        while self.rpc.call("eth_getTransactionReceipt", batch[-1]["tx_hash"]) is None:
            if time.monotonic() > deadline:
                log.warning("recovery: %s not mined within %.0fs; the rest is re-sent without waiting",
                            batch[-1]["tx_hash"], _MINED_WAIT_S)  # fmt: skip
                return False
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
        for row, receipt in zip(batch, _receipts(self.rpc, [r["tx_hash"] for r in batch]), strict=True):
            if receipt is not None:
                self._record(row["tx_hash"], receipt)
        return True

    def _record(self, tx_hash: str, raw: dict[str, Any]) -> None:
        receipt = Receipt.from_rpc(raw)
        self.store.tx_mined(tx_hash, block_number=receipt.block_number, tx_index=receipt.tx_index,
                            status=receipt.status)  # fmt: skip

    def _resend(self, row: dict[str, Any], report: RecoveryReport) -> None:
        try:
            self.rpc.call("eth_sendRawTransaction", row["raw"])
        except RpcError as exc:
            if already_known(exc):
                self.store.tx_resent(row["tx_hash"])
                report.resent.append(row["tx_hash"])
                return
            receipt = self.rpc.call("eth_getTransactionReceipt", row["tx_hash"])
            if receipt is not None:
                self._record(row["tx_hash"], receipt)
                return
            text = exc.message.lower()
            if "nonce" in text and ("low" in text or "too" in text):
                self.store.tx_refused(row["tx_hash"], "dropped", exc.message)
                report.dropped.append(row["tx_hash"])
                self.on_dropped(row)
                return
            # Anything else (a fee the chain now finds too low, a full pool) is tried again later.
            log.warning("recovery: %s not re-sent yet: %s", row["tx_hash"], exc.message)
            return
        except ChainUnavailable:
            raise
        self.store.tx_resent(row["tx_hash"])
        report.resent.append(row["tx_hash"])
