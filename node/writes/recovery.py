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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from node.chain.rpc import RpcClient, RpcError
from node.chain.sender import SEND_GATE, NonceManager, already_known
from node.errors import ChainUnavailable
from node.store import Store

log = logging.getLogger("sinknode.recovery")
_RECEIPTS_PER_CALL = 100


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
            for row in lacking:
                self._resend(row, report)
            if lacking:
                # Every cached nonce may be wrong now; the next send of each account reads it again.
                NonceManager.forget(self.rpc.url)
        if report.resent or report.dropped:
            log.warning("recovery: %d re-sent, %d dropped of %d checked", len(report.resent), len(report.dropped),
                        report.checked)  # fmt: skip
        return report

    def _record(self, tx_hash: str, receipt: dict[str, Any]) -> None:
        self.store.tx_mined(
            tx_hash,
            block_number=int(receipt["blockNumber"], 16),
            tx_index=int(receipt.get("transactionIndex", "0x0"), 16),
            status=int(receipt["status"], 16),
        )

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
