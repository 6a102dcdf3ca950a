"""The journal the node's senders write to, and the check each send makes first.

Before a transaction is sent (holding the send gate), the chain's head is compared with the highest block
that held one of the node's transactions: a head below it means the chain lost blocks (it was restarted
from an older state), and every journalled transaction from there on is re-sent, in order, before the new
one, so no new transaction can take an id an earlier answer gave out.
"""

import threading
from collections.abc import Callable

from node.chain.rpc import RpcClient
from node.chain.sender import SEND_GATE
from node.store import Store
from node.writes.recovery import Recovery


class JournalGuard:
    def __init__(self, store: Store, recovery: Recovery, rpc: RpcClient) -> None:
        self.store = store
        self.recovery = recovery
        self.rpc = rpc
        self._lock = threading.Lock()
        self.on_sent: Callable[[], None] | None = None  # the services poke their indexer
        self.highest_block = store.highest_mined_block()

    def check_chain(self, head: int | None = None) -> None:
        """Re-sends what the chain lost, if its head fell below the node's highest mined transaction."""
        if head is None:
            head = self.rpc.block_number()
        # With several processes sending, another one's transactions count too: read from the shared journal.
        highest = self.store.highest_mined_block() if SEND_GATE.shared else self.highest_block
        if head < highest:
            self.recover_from(head + 1)

    def recover_from(self, block: int) -> None:
        self.recovery.resend_missing(block)
        highest = self.store.highest_mined_block()
        with self._lock:
            self.highest_block = highest

    # the sender's journal -------------------------------------------------------------------------
    def journal_tx(self, *, intent_id: int | None, account: str, nonce: int, tx_hash: str, raw: str) -> int:
        return self.store.journal_tx(intent_id=intent_id, account=account, nonce=nonce, tx_hash=tx_hash, raw=raw)

    def tx_mined(self, tx_hash: str, *, block_number: int, tx_index: int, status: int) -> None:
        self.store.tx_mined(tx_hash, block_number=block_number, tx_index=tx_index, status=status)
        with self._lock:
            self.highest_block = max(self.highest_block, block_number)

    def tx_sent(self, tx_hash: str) -> None:
        if self.on_sent is not None:
            self.on_sent()

    def tx_refused(self, tx_hash: str, state: str, why: str) -> None:
        self.store.tx_refused(tx_hash, state, why)

    def free_nonce(self, account: str) -> int | None:
        highest = self.store.highest_journal_nonce(account)
        return None if highest is None else highest + 1
