"""Signs transactions locally and sends them raw; never asks the node to sign.

One nonce manager per account and endpoint, shared by every sender of that account in the process,
so concurrent requests never reuse or skip a nonce. Gas pricing is EIP-1559 on anvil or legacy
(type 0, a fixed price, zero on a free-gas Besu network) by configuration. Refusals found when
estimating are decoded into the contract's named errors before anything is sent.
"""

import threading
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from node.chain.abi import ContractAbi
from node.chain.rpc import RpcClient, RpcError
from node.errors import TransactionError, TransactionTimeout

GasMode = Literal["eip1559", "legacy"]
_GAS_MARGIN = 1.25
_FIRST_POLL_S = 0.002
_MAX_POLL_S = 0.1
# EIP-1559 fees are read at most this often: maxFeePerGas = 2 × base fee + tip stays valid through
# several blocks of rising base fee, and re-reading per transaction would cost two calls each.
_FEE_TTL_S = 2.0


@dataclass(frozen=True)
class Receipt:
    tx_hash: str
    block_number: int
    block_hash: str
    gas_used: int
    status: int
    logs: tuple[dict[str, Any], ...]
    raw: dict[str, Any]


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

    def next(self, rpc: RpcClient, address: str) -> int:
        """Must be called holding `lock`."""
        if self._next is None:
            self._next = int(rpc.call("eth_getTransactionCount", address, "pending"), 16)
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
    ) -> None:
        self.rpc = rpc
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
        """Estimates (refusals raise their named error), signs, sends and awaits the receipt."""
        call: dict[str, Any] = {"from": self.address, "data": "0x" + data.hex()}
        if to is not None:
            call["to"] = to
        if gas is None:
            gas = int(self._estimate(call) * _GAS_MARGIN) + 10_000
        with self.nonces.lock:
            nonce = self.nonces.next(self.rpc, self.address)
            tx = self._transaction(to, data, gas, nonce)
            signed = self.account.sign_transaction(tx)
            try:
                tx_hash = self.rpc.call("eth_sendRawTransaction", "0x" + signed.raw_transaction.hex())
            except RpcError as exc:
                self.nonces.reset()
                self._fees = None  # a fee the node found too low is read again next time
                raise self._translate(exc) from exc
            except Exception:
                self.nonces.reset()
                raise
            self.nonces.advance()
        receipt = self.wait(tx_hash)
        if receipt.status != 1:
            raise self._replay_failure(call, receipt)
        return receipt

    def wait(self, tx_hash: str) -> Receipt:
        deadline = time.monotonic() + self.timeout_s
        pause = _FIRST_POLL_S
        while True:
            raw = self.rpc.call("eth_getTransactionReceipt", tx_hash)
            if raw is not None:
                return Receipt(
                    tx_hash=raw["transactionHash"],
                    block_number=int(raw["blockNumber"], 16),
                    block_hash=raw["blockHash"],
                    gas_used=int(raw["gasUsed"], 16),
                    status=int(raw["status"], 16),
                    logs=tuple(raw["logs"]),
                    raw=raw,
                )
            if time.monotonic() > deadline:
                raise TransactionTimeout(f"no receipt for {tx_hash} within {self.timeout_s}s")
            time.sleep(pause)
            pause = min(pause * 2, _MAX_POLL_S)

    def _estimate(self, call: dict[str, Any]) -> int:
        if self.gas_mode == "legacy":
            call = {**call, "gasPrice": hex(self.gas_price_wei)}
        try:
            return int(self.rpc.call("eth_estimateGas", call), 16)
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
