"""Signs transactions locally and sends them raw; never asks the node to sign.

One nonce manager per account and endpoint, shared by every sender of that account in the process,
so concurrent requests never reuse or skip a nonce. With a journal (the node's store), every signed
transaction is stored with its nonce before it is sent, under one process-wide gate, so the
journal's order is the order of sending and a recovery that re-sends lost transactions holds every
new send back. Gas pricing is EIP-1559 on anvil or legacy (type 0, a fixed price, zero on a free-gas
Besu network) by configuration. Refusals found when estimating are decoded into the contract's named
errors before anything is sent.
"""

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from node.chain.abi import ContractAbi
from node.chain.rpc import RpcClient, RpcError
from node.errors import ChainUnavailable, TransactionError, TransactionPending, TransactionTimeout
from node.writes.locks import SendGate

GasMode = Literal["eip1559", "legacy"]
_GAS_MARGIN = 1.25
_FIRST_POLL_S = 0.0005
_MAX_POLL_S = 0.1
# EIP-1559 fees are read at most this often: maxFeePerGas = 2 × base fee + tip stays valid through
# several blocks of rising base fee, and re-reading per transaction would cost two calls each.
_FEE_TTL_S = 2.0
# The head read with the gas estimate stands for the head at sending only if the gate was taken soon after.
# Waiting for the gate (behind a recovery re-sending hundreds of transactions, say) a chain can be killed and
# restarted from an older state; checked against the stale head, the loss went unnoticed and the new
# transaction took an id a lost, answered one had. Restarting a chain takes far longer than this.
_HEAD_FRESH_S = 0.1


# Held while a transaction is journalled and sent, and by a recovery for as long as it re-sends; shared by
# the node's processes when it runs several API workers (node.writes.locks).
SEND_GATE = SendGate()
_INTENT: ContextVar[int | None] = ContextVar("sinknode_intent", default=None)


@contextmanager
def for_intent(intent_id: int) -> Iterator[None]:
    """Transactions sent inside this block are journalled under `intent_id`."""
    token = _INTENT.set(intent_id)
    try:
        yield
    finally:
        _INTENT.reset(token)


class TxJournal(Protocol):
    def journal_tx(self, *, intent_id: int | None, account: str, nonce: int, tx_hash: str, raw: str) -> int: ...

    def tx_mined(self, tx_hash: str, *, block_number: int, tx_index: int, status: int) -> None: ...

    def tx_refused(self, tx_hash: str, state: str, why: str) -> None: ...

    def free_nonce(self, account: str) -> int | None:
        """The lowest nonce above every journalled transaction of `account` that is pending or mined: one a
        recovery will send again still owns its nonce, even while the chain does not count it."""

    def check_chain(self, head: int) -> None:
        """Called holding the send gate before each send, with the chain's head: re-sends what the chain
        lost, if it lost any."""

    def tx_sent(self, tx_hash: str) -> None:
        """Called once the chain took a transaction (the index may look for its block now)."""


def already_known(error: RpcError) -> bool:
    """The chain holds this very transaction already (pending or mined): a re-send that changes nothing."""
    text = error.message.lower()
    return "already known" in text or "already imported" in text or "known transaction" in text


@dataclass(frozen=True)
class Receipt:
    tx_hash: str
    block_number: int
    block_hash: str
    gas_used: int
    status: int
    logs: tuple[dict[str, Any], ...]
    raw: dict[str, Any]

    @classmethod
    def from_rpc(cls, raw: dict[str, Any]) -> "Receipt":
        return cls(
            tx_hash=raw["transactionHash"],
            block_number=int(raw["blockNumber"], 16),
            block_hash=raw["blockHash"],
            gas_used=int(raw["gasUsed"], 16),
            status=int(raw["status"], 16),
            logs=tuple(raw["logs"]),
            raw=raw,
        )

    @property
    def tx_index(self) -> int:
        return int(self.raw.get("transactionIndex", "0x0"), 16)


class NonceManager:
    """Hands out consecutive nonces; resynchronises from the chain after a failed send."""

    _registry: ClassVar[dict[tuple[str, str], "NonceManager"]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._next: int | None = None

    @classmethod
    def for_account(cls, url: str, address: str) -> "NonceManager":
        key = (url, address.lower())
        with cls._registry_lock:
            if key not in cls._registry:
                cls._registry[key] = cls()
            return cls._registry[key]

    @classmethod
    def forget(cls, url: str) -> None:
        """Drops every cached nonce for an endpoint: after a reorg or a chain revert they may be wrong."""
        with cls._registry_lock:
            for (manager_url, _), manager in cls._registry.items():
                if manager_url == url:
                    with manager.lock:
                        manager.reset()

    def next(self, rpc: RpcClient, address: str, floor: Callable[[], int | None] | None = None) -> int:
        """Must be called holding `lock`. When the nonce is read from the chain, it is never below `floor()`."""
        if self._next is None:
            chain = int(rpc.call("eth_getTransactionCount", address, "pending"), 16)
            lowest = floor() if floor is not None else None
            self._next = chain if lowest is None else max(chain, lowest)
        return self._next

    def advance(self) -> None:
        assert self._next is not None
        self._next += 1

    def reset(self) -> None:
        self._next = None


class TransactionSender:
    def __init__(
        self,
        rpc: RpcClient,
        account: LocalAccount,
        *,
        chain_id: int,
        abi: ContractAbi | None = None,
        gas_mode: GasMode = "eip1559",
        gas_price_wei: int = 0,
        timeout_s: float = 60.0,
        journal: TxJournal | None = None,
    ) -> None:
        self.rpc = rpc
        self.journal = journal
        self.account = account
        self.address = str(account.address).lower()
        self.chain_id = chain_id
        self.abi = abi
        self.gas_mode = gas_mode
        self.gas_price_wei = gas_price_wei
        self.timeout_s = timeout_s
        self.nonces = NonceManager.for_account(rpc.url, self.address)
        self._fees: tuple[float, int, int] | None = None  # (read at, maxFeePerGas, maxPriorityFeePerGas)

    def send(self, to: str | None, data: bytes, *, gas: int | None = None) -> Receipt:
        """Estimates (refusals raise their named error), signs, sends and awaits the receipt.

        With a journal, a transaction whose fate is unknown (no receipt in time, or the chain went away
        after it was journalled) raises TransactionPending: it may still be mined, and it is re-sent until
        it is or its nonce goes to another transaction."""
        call: dict[str, Any] = {"from": self.address, "data": "0x" + data.hex()}
        if to is not None:
            call["to"] = to
        head: int | None = None
        if gas is None:
            estimate, head = self._estimate(call, with_head=self.journal is not None)
            gas = int(estimate * _GAS_MARGIN) + 10_000
        head_read = time.monotonic()
        if self.journal is None:
            with self.nonces.lock:
                tx_hash = self._sign_and_send(to, data, gas)
        else:
            with SEND_GATE:
                if head is None or time.monotonic() - head_read > _HEAD_FRESH_S:
                    head = self.rpc.block_number()  # the one read with the estimate is too old to trust
                self.journal.check_chain(head)
                with self.nonces.lock:
                    if SEND_GATE.shared:
                        # Another process may have sent for this account since: the nonce is read again
                        # (the chain's count, never below the shared journal's).
                        self.nonces.reset()
                    tx_hash = self._sign_and_send(to, data, gas)
            self.journal.tx_sent(tx_hash)
        try:
            receipt = self.wait(tx_hash)
        except (TransactionTimeout, ChainUnavailable) as exc:
            # The nonce may be wrong now (a chain that lost blocks): it is read again for the next send.
            self.nonces.reset()
            if self.journal is None:
                raise
            raise TransactionPending(tx_hash, f"{tx_hash} was sent; its receipt is not known yet: {exc}") from exc
        if self.journal is not None:
            self.journal.tx_mined(
                tx_hash, block_number=receipt.block_number, tx_index=receipt.tx_index, status=receipt.status
            )
        if receipt.status != 1:
            raise self._replay_failure(call, receipt)
        return receipt

    def _sign_and_send(self, to: str | None, data: bytes, gas: int) -> str:
        """Must be called holding the nonce lock (and, with a journal, the send gate)."""
        # With a journal, never a nonce a journalled transaction holds: the chain's count of pending ones leaves
        # out those waiting behind a gap (anvil counts only what it can mine next), and after a recovery the
        # re-sent ones may still be on their way. A new transaction given such a nonce took the place of an
        # answered write (its transaction was then `dropped`, nonce too low) and the write was lost.
        floor = (lambda: self.journal.free_nonce(self.address)) if self.journal is not None else None
        nonce = self.nonces.next(self.rpc, self.address, floor)
        tx = self._transaction(to, data, gas, nonce)
        signed = self.account.sign_transaction(tx)
        raw = "0x" + signed.raw_transaction.hex()
        tx_hash = "0x" + signed.hash.hex()
        if self.journal is not None:
            self.journal.journal_tx(
                intent_id=_INTENT.get(), account=self.address, nonce=nonce, tx_hash=tx_hash, raw=raw
            )
        try:
            answered = self.rpc.call("eth_sendRawTransaction", raw)
        except RpcError as exc:
            if already_known(exc) or self._chain_has(tx_hash):
                # A repeated send (a connection retried after the chain took the first) changed nothing.
                self.nonces.advance()
                return tx_hash
            self.nonces.reset()
            self._fees = None  # a fee the node found too low is read again next time
            if self.journal is not None:
                self.journal.tx_refused(tx_hash, "rejected", exc.message)
            raise self._translate(exc) from exc
        except ChainUnavailable as exc:
            self.nonces.reset()
            if self.journal is None:
                raise
            # It may have reached the chain: it stays journalled and is re-sent by the recovery.
            raise TransactionPending(tx_hash, f"{tx_hash} was signed and journalled; the chain did not answer") from exc
        except Exception:
            self.nonces.reset()
            raise
        self.nonces.advance()
        return str(answered).lower()

    def wait(self, tx_hash: str) -> Receipt:
        deadline = time.monotonic() + self.timeout_s
        pause = _FIRST_POLL_S
        while True:
            raw = self.rpc.call("eth_getTransactionReceipt", tx_hash)
            if raw is not None:
                return Receipt.from_rpc(raw)
            if time.monotonic() > deadline:
                raise TransactionTimeout(f"no receipt for {tx_hash} within {self.timeout_s}s")
            time.sleep(pause)
            pause = min(pause * 2, _MAX_POLL_S)

    def _chain_has(self, tx_hash: str) -> bool:
        try:
            return self.rpc.call("eth_getTransactionByHash", tx_hash) is not None
        except (RpcError, ChainUnavailable):
            return False

    def _estimate(self, call: dict[str, Any], *, with_head: bool = False) -> tuple[int, int | None]:
        """The gas estimate (a refusal raises its named error), and the chain's head read in the same round
        trip when asked for (the journal checks it before sending)."""
        if self.gas_mode == "legacy":
            call = {**call, "gasPrice": hex(self.gas_price_wei)}
        try:
            if not with_head:
                return int(self.rpc.call("eth_estimateGas", call), 16), None
            estimate, head = self.rpc.call_batch([("eth_estimateGas", [call]), ("eth_blockNumber", [])])
            return int(estimate, 16), int(head, 16)
        except RpcError as exc:
            raise self._translate(exc) from exc

    def _transaction(self, to: str | None, data: bytes, gas: int, nonce: int) -> dict[str, Any]:
        tx: dict[str, Any] = {"chainId": self.chain_id, "nonce": nonce, "gas": gas, "value": 0, "data": data}
        if to is not None:
            tx["to"] = to_checksum_address(to)
        if self.gas_mode == "legacy":
            tx["gasPrice"] = self.gas_price_wei
            return tx
        max_fee, tip = self._eip1559_fees()
        tx["maxPriorityFeePerGas"] = tip
        tx["maxFeePerGas"] = max_fee
        tx["type"] = 2
        return tx

    def _eip1559_fees(self) -> tuple[int, int]:
        now = time.monotonic()
        if self._fees is None or now - self._fees[0] > _FEE_TTL_S:
            latest, tip = self.rpc.call_batch(
                [("eth_getBlockByNumber", ["latest", False]), ("eth_maxPriorityFeePerGas", [])]
            )
            tip = int(tip, 16)
            self._fees = (now, 2 * int(latest["baseFeePerGas"], 16) + tip, tip)
        return self._fees[1], self._fees[2]

    def _translate(self, exc: RpcError) -> TransactionError:
        data = exc.revert_data
        if data is not None and self.abi is not None:
            return self.abi.decode_revert(data)
        return TransactionError(exc.message)

    def _replay_failure(self, call: dict[str, Any], receipt: Receipt) -> TransactionError:
        """A mined failure carries no reason; replaying it at its block recovers the named error."""
        try:
            self.rpc.call("eth_call", call, hex(receipt.block_number - 1))
        except RpcError as exc:
            return self._translate(exc)
        return TransactionError(f"transaction {receipt.tx_hash} failed (status 0, gas used {receipt.gas_used})")
