"""The index digest: a running SHA-256 over the ordered events, one value two indexes can compare.

digest_0 = sha256("sinkledger-index/1" ‖ chain id (8 bytes) ‖ contract address (20 bytes))
digest_n = sha256(digest_{n-1} ‖ block number (8) ‖ block hash ‖ tx hash ‖ log index (4) ‖ topics ‖ data)

It covers the raw logs, so it says nothing about how they were decoded: two nodes with the same
digest hold the same events in the same order.
"""

import hashlib

from node.index.decode import RawLog

_DOMAIN = b"sinkledger-index/1"


def genesis_digest(chain_id: int, contract: str) -> str:
    seed = _DOMAIN + chain_id.to_bytes(8, "big") + bytes.fromhex(contract.removeprefix("0x"))
    return hashlib.sha256(seed).hexdigest()


class RunningDigest:
    """The digest carried along a sequence of events; `add` returns the digest up to and including the event.

    It keeps the last digest as bytes and the encoded block and transaction of the last event, which the
    events that follow in the same block and transaction share (a busy registry's are most of them)."""

    __slots__ = ("_block_hash", "_block_part", "_last", "_tx_hash", "_tx_part")

    def __init__(self, previous: str) -> None:
        self._last = bytes.fromhex(previous)
        self._block_hash = self._tx_hash = ""
        self._block_part = self._tx_part = b""

    def add(self, log: RawLog) -> str:
        if log.block_hash != self._block_hash:
            self._block_hash = log.block_hash
            self._block_part = log.block_number.to_bytes(8, "big") + bytes.fromhex(log.block_hash[2:])
        if log.tx_hash != self._tx_hash:
            self._tx_hash = log.tx_hash
            self._tx_part = bytes.fromhex(log.tx_hash[2:])
        self._last = hashlib.sha256(
            b"".join((self._last, self._block_part, self._tx_part, log.log_index.to_bytes(4, "big"), *log.topics,
                      log.data))
        ).digest()  # fmt: skip
        return self._last.hex()
