"""Fetching a block range's registry logs, consistently, with a range that adapts to what the node allows.

One range costs three round trips whatever it holds: the hashes of the block before it and of its last
block, the logs, and the last block's hash again. If that hash changed meanwhile, the chain moved under
the fetch and the range is fetched again; the hash of the block before it lets the follower check that
the range continues the chain it has indexed.
"""

import time
from dataclasses import dataclass, field

from node.chain.rpc import RpcClient, RpcError
from node.errors import ChainUnavailable
from node.index.decode import RawLog, raw_log

_MAX_ATTEMPTS = 8


@dataclass
class FetchedRange:
    start: int
    end: int
    parent_hash: str  # hash of block start - 1 as the node reported it
    end_hash: str
    logs: list[RawLog]
    block_hashes: dict[int, str] = field(default_factory=dict)
    seconds: float = 0.0


class ChainMoved(Exception):
    """The chain changed while a range was being fetched."""


class LogFetcher:
    def __init__(self, rpc: RpcClient, address: str, *, max_range: int, min_range: int = 1, max_logs: int = 10_000,
                 first_range: int = 32) -> None:  # fmt: skip
        self.rpc = rpc
        self.address = address
        self.max_range = max_range
        self.min_range = min_range
        self.max_logs = max_logs  # a range that returned more shrinks, keeping transactions and replies moderate
        # The first range is small and sizes double while they hold few logs: a dense history is cut into
        # ranges of about `max_logs` from the start, so that fetching the next overlaps writing this one.
        self.size = max(min(first_range, max_range), min_range)

    def fetch(self, start: int, last: int) -> FetchedRange:
        """Fetches from `start` up to at most `last`, in one range whose size adapts; returns what it covered."""
        began = time.perf_counter()
        for _ in range(_MAX_ATTEMPTS):
            end = min(last, start + self.size - 1)
            before = self.rpc.call_batch(
                [("eth_getBlockByNumber", [hex(max(start - 1, 0)), False]), ("eth_getBlockByNumber", [hex(end), False])]
            )
            if before[1] is None:
                raise ChainMoved(f"block {end} is gone")
            try:
                entries = self.rpc.call(
                    "eth_getLogs", {"fromBlock": hex(start), "toBlock": hex(end), "address": self.address}
                )
            except RpcError as exc:
                if self.size <= self.min_range:
                    raise ChainUnavailable(f"eth_getLogs refuses even {self.size} block(s): {exc.message}") from exc
                self.size = max(self.min_range, self.size // 2)  # the node refused the range: halve it
                continue
            end_hash = before[1]["hash"].lower()
            after = self.rpc.call("eth_getBlockByNumber", hex(end), False)
            if after is None or after["hash"].lower() != end_hash:
                continue  # the chain moved under the fetch: again
            logs = self._logs(entries)
            hashes = {log.block_number: log.block_hash for log in logs}
            if hashes.get(end, end_hash) != end_hash:
                continue
            hashes[end] = end_hash
            if len(logs) > self.max_logs:
                self.size = max(self.min_range, self.size * self.max_logs // len(logs))
            elif self.size < self.max_range and len(logs) < self.max_logs // 4:
                self.size = min(self.max_range, self.size * 2)
            parent = before[0]["hash"].lower() if start > 0 else "0x" + "00" * 32
            return FetchedRange(start, end, parent, hashes[end], logs, hashes, time.perf_counter() - began)
        raise ChainMoved(f"could not fetch blocks {start}..{last} consistently in {_MAX_ATTEMPTS} attempts")

    def _logs(self, entries: list[dict]) -> list[RawLog]:
        missing = sorted({int(e["blockNumber"], 16) for e in entries if "blockTimestamp" not in e})
        times: dict[int, int] = {}
        if missing:  # nodes that do not put the block time in logs (Besu, older geth)
            headers = self.rpc.call_batch([("eth_getBlockByNumber", [hex(n), False]) for n in missing])
            times = {n: int(h["timestamp"], 16) for n, h in zip(missing, headers, strict=True)}
        return [
            raw_log(e, int(e["blockTimestamp"], 16) if "blockTimestamp" in e else times[int(e["blockNumber"], 16)])
            for e in entries
            if not e.get("removed")
        ]
