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


def next_digest(previous: str, log: RawLog) -> str:
    h = hashlib.sha256(bytes.fromhex(previous))
    h.update(log.block_number.to_bytes(8, "big"))
    h.update(bytes.fromhex(log.block_hash[2:]))
    h.update(bytes.fromhex(log.tx_hash[2:]))
    h.update(log.log_index.to_bytes(4, "big"))
    for topic in log.topics:
        h.update(topic)
    h.update(log.data)
    return h.hexdigest()
