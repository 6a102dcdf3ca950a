"""Raw logs to events: pure functions, no I/O.

The two events that make up nearly all of a busy registry's logs (transfers and retirements) are
decoded by hand from their fixed layout; the rest go through eth_abi. Bytes become lowercase 0x-hex
and addresses lowercase, as the index stores them.
"""

from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode

from node.chain.abi import ContractAbi, EventCodec


@dataclass(frozen=True, slots=True)
class RawLog:
    block_number: int
    block_hash: str
    block_time: int
    tx_hash: str
    log_index: int
    topics: tuple[bytes, ...]
    data: bytes


@dataclass(frozen=True, slots=True)
class IndexedEvent:
    log: RawLog
    name: str
    args: dict[str, Any]


def raw_log(entry: dict[str, Any], block_time: int) -> RawLog:
    return RawLog(
        block_number=int(entry["blockNumber"], 16),
        block_hash=entry["blockHash"].lower(),
        block_time=block_time,
        tx_hash=entry["transactionHash"].lower(),
        log_index=int(entry["logIndex"], 16),
        topics=tuple(bytes.fromhex(t[2:]) for t in entry["topics"]),
        data=bytes.fromhex(entry["data"][2:]),
    )


def _address(word: bytes) -> str:
    return "0x" + word[12:].hex()


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _plain(kind: str, value: Any) -> Any:
    if kind == "address":
        return str(value).lower()
    if isinstance(value, bytes):
        return _hex(value)
    return value


class EventDecoder:
    def __init__(self, abi: ContractAbi) -> None:
        self._codecs: dict[bytes, EventCodec] = abi.events
        self._transfer = abi.events_by_name["CertificateTransferred"].topic0
        self._retired = abi.events_by_name["CertificateRetired"].topic0

    def decode(self, log: RawLog) -> IndexedEvent | None:
        """The event, or None for a log this ABI does not declare."""
        topic0 = log.topics[0] if log.topics else b""
        if topic0 == self._transfer:
            return IndexedEvent(log, "CertificateTransferred", self._transfer_args(log))
        if topic0 == self._retired:
            return IndexedEvent(log, "CertificateRetired", self._retired_args(log))
        codec = self._codecs.get(topic0)
        if codec is None:
            return None
        args: dict[str, Any] = {}
        for (name, kind), topic in zip(codec.indexed, log.topics[1:], strict=True):
            args[name] = _plain(kind, abi_decode([kind], topic)[0])
        values = abi_decode([kind for _, kind in codec.data], log.data)
        for (name, kind), value in zip(codec.data, values, strict=True):
            args[name] = _plain(kind, value)
        return IndexedEvent(log, codec.name, args)

    @staticmethod
    def _transfer_args(log: RawLog) -> dict[str, Any]:
        topics, data = log.topics, log.data
        return {
            "batchId": int.from_bytes(topics[1], "big"),
            "from": _address(topics[2]),
            "to": _address(topics[3]),
            "amount": int.from_bytes(data[0:32], "big"),
            "dealRef": _hex(data[32:64]),
        }

    @staticmethod
    def _retired_args(log: RawLog) -> dict[str, Any]:
        topics, data = log.topics, log.data
        # head: amount, beneficiaryHash, consumptionStart, consumptionEnd, region, offsets of the two strings
        beneficiary = _string_at(data, int.from_bytes(data[160:192], "big"))
        reason = _string_at(data, int.from_bytes(data[192:224], "big"))
        return {
            "retirementId": int.from_bytes(topics[1], "big"),
            "batchId": int.from_bytes(topics[2], "big"),
            "holder": _address(topics[3]),
            "amount": int.from_bytes(data[0:32], "big"),
            "beneficiaryHash": _hex(data[32:64]),
            "consumptionStart": int.from_bytes(data[64:96], "big"),
            "consumptionEnd": int.from_bytes(data[96:128], "big"),
            "region": _hex(data[128:144]),
            "beneficiary": beneficiary,
            "reason": reason,
        }


def _string_at(data: bytes, offset: int) -> str:
    length = int.from_bytes(data[offset : offset + 32], "big")
    return data[offset + 32 : offset + 32 + length].decode("utf-8", errors="replace")
