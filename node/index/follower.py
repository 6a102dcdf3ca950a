"""The indexer: follows the chain from the deploy block into SQLite, one transaction per fetched range.

Each range's events, derived state, block hashes and checkpoint commit together, so a process killed
at any moment resumes from its last checkpoint with no gap and no duplicate. A reorg is noticed when a
range does not continue the indexed chain, or the checkpoint's block hash changes; the index then
rolls back to the highest block whose stored hash is still canonical (events, derived state,
aggregates and digest) and indexes forward again.
"""

import contextlib
import gc
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from node.chain.abi import ContractAbi
from node.chain.manifest import DeploymentManifest
from node.chain.rpc import RpcClient
from node.errors import DeploymentError
from node.index.apply import Applier
from node.index.db import (
    DERIVATION_VERSION,
    IndexerLock,
    IndexLocation,
    connect_writer,
    derivation_version,
    is_postgres,
    set_derivation_version,
)
from node.index.decode import EventDecoder, IndexedEvent
from node.index.digest import genesis_digest
from node.index.fetch import ChainMoved, FetchedRange, LogFetcher
from node.index.models import DERIVED_TABLES
from node.risk.engine import Rules
from node.risk.worker import RiskWorkerError

# Block hashes older than this many blocks behind the checkpoint are pruned; a reorg deeper than
# this re-indexes from the deploy block.
REORG_WINDOW = 1024
# A range whose risk rules failed is rolled back and tried again (with the rules warmed again, in a new
# process if theirs died) this many times in a row before the error reaches the caller.
RULE_RETRIES = 3
log = logging.getLogger(__name__)
_ZERO_HASH = "0x" + "00" * 32
_REMEMBER_BLOCK = (
    "INSERT INTO indexed_block (number, hash) VALUES (?, ?) ON CONFLICT (number) DO UPDATE SET hash = excluded.hash"
)
_NOTHING = object()
# While ranges are being indexed, the cyclic collector runs after this many new container objects instead of
# 700: a catch-up holds tens of thousands of fetched logs and decoded events alive at once, which the default
# promoted to the oldest generation and walked again in a full collection about every 8,000 events (a fifth
# of indexing time). The events hold no cycles; they are freed by their counts when their range commits.
_GC_THRESHOLD_WHILE_INDEXING = 200_000


@dataclass
class Progress:
    last_block: int
    head: int
    events: int
    events_per_s: float
    rpc_calls: int
    reorgs: int

    @property
    def lag(self) -> int:
        return max(self.head - self.last_block, 0)


@dataclass
class Checkpoint:
    last_block: int
    last_block_hash: str
    event_count: int
    digest: str


class Reorg(Exception):
    pass


@dataclass(frozen=True, slots=True)
class _Decoded:
    range: FetchedRange
    events: list[IndexedEvent]


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Raises the collector's youngest threshold for the duration (process-wide; restored after)."""
    previous = gc.get_threshold()
    gc.set_threshold(max(previous[0], _GC_THRESHOLD_WHILE_INDEXING), *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)


class Indexer:
    def __init__(
        self,
        rpc_url: str,
        manifest: DeploymentManifest,
        db_path: IndexLocation,
        *,
        confirmations: int = 0,
        max_range: int = 500,
        timezone: str = "Asia/Shanghai",
        prefetch: int = 2,
        risk: Rules | None = None,
        lock: IndexerLock | None = None,
    ) -> None:
        self.manifest = manifest
        self.address = manifest.registry.address
        self.chain_id = manifest.chain_id
        self.confirmations = confirmations
        self.prefetch = prefetch
        self.rpc = RpcClient(rpc_url)
        self.fetch_rpc = RpcClient(rpc_url)
        self.fetcher = LogFetcher(self.fetch_rpc, self.address, max_range=max_range)
        self.decoder = EventDecoder(ContractAbi(manifest.registry.abi))
        self.postgres = is_postgres(db_path)
        # One indexer per PostgreSQL index: a second waits here for the lock, unless its caller holds it.
        self._lock: IndexerLock | None = None
        if self.postgres and lock is None:
            assert isinstance(db_path, str)
            self._lock = IndexerLock.acquired(db_path)
        try:
            self.db = connect_writer(db_path)
            self.applier = Applier(self.db, self.chain_id, timezone, risk, insert_thread=True)
            self.reorgs = 0
            # Called with the block the index rolled back to (a reorg, or a chain that lost blocks).
            self.on_rollback: Callable[[int], None] | None = None
            # Called in this thread with the index connection after each commit (the account allowlist keeper);
            # one that fails is logged and does not stop the index.
            self.after_commit: list[Callable[[sqlite3.Connection], object]] = []
            # A writer waiting for its block pokes the follower instead of waiting out its poll, and is told
            # when a range commits.
            self._wake = threading.Event()
            self.advanced = threading.Condition()
            self.timings = {"rpc": 0.0, "decode": 0.0, "db": 0.0}  # seconds spent, for the benchmark's split
            self.checkpoint = self._load_or_create_checkpoint()
            self._rederive_if_stale()
            if risk is not None:
                risk.warm(self.db)  # the rules' windows, from what is committed
        except BaseException:  # nothing opened here outlives a failed start (a chain that does not answer, say)
            if getattr(self, "applier", None) is not None:
                self.applier.close()
            if getattr(self, "db", None) is not None:
                self.db.close()
            if self._lock is not None:
                self._lock.close()
            self.rpc.close()
            self.fetch_rpc.close()
            raise

    def close(self) -> None:
        if self.applier.risk is not None:
            self.applier.risk.close()
        self.applier.close()
        self.db.close()
        if self._lock is not None:
            self._lock.close()
        self.rpc.close()
        self.fetch_rpc.close()

    def __enter__(self) -> "Indexer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------------------------------------
    def sync(
        self,
        *,
        stop: threading.Event | None = None,
        progress: Callable[[Progress], None] | None = None,
        until: int | None = None,
    ) -> Checkpoint:
        """Indexes up to the confirmed head (or `until`), handling any reorg on the way; returns the checkpoint."""
        stop = stop or threading.Event()
        rule_failures = 0
        while not stop.is_set():
            try:
                target = self._checked_target(until)
                if self.checkpoint.last_block >= target:
                    return self.checkpoint
                self._index_to(target, stop, progress)
                if self.checkpoint.last_block >= target:
                    return self.checkpoint
            except Reorg:
                self._handle_reorg()
                if self.on_rollback is not None:
                    self.on_rollback(self.checkpoint.last_block)
            except RiskWorkerError as error:
                rule_failures += 1
                if rule_failures > RULE_RETRIES:
                    raise
                log.warning("risk rules failed; range rolled back, retrying from block %d: %s",
                            self.checkpoint.last_block + 1, error)  # fmt: skip
        return self.checkpoint

    def follow(self, stop: threading.Event, progress: Callable[[Progress], None] | None = None,
               poll_s: float = 0.5) -> None:  # fmt: skip
        """Keeps the index at the confirmed head until `stop` is set."""
        while not stop.is_set():
            self.sync(stop=stop, progress=progress)
            self._wake.wait(poll_s)
            self._wake.clear()

    def poke(self) -> None:
        """Asks a following indexer to look at the chain now (a write is waiting for its block)."""
        self._wake.set()

    def _advanced(self) -> None:
        for hook in self.after_commit:
            try:
                hook(self.db)
            except Exception:
                log.exception("an after-commit hook failed")
        with self.advanced:
            self.advanced.notify_all()

    def digest(self) -> str:
        return self.checkpoint.digest

    # ---------------------------------------------------------------------------------------------
    def _target(self, until: int | None) -> int:
        head = self.rpc.block_number() - self.confirmations
        return head if until is None else min(head, until)

    def _index_to(self, target: int, stop: threading.Event, progress: Callable[[Progress], None] | None) -> None:
        with fewer_collections():
            self._index_ranges_to(target, stop, progress)

    def _index_ranges_to(self, target: int, stop: threading.Event,
                         progress: Callable[[Progress], None] | None) -> None:  # fmt: skip
        # Ranges are fetched and decoded ahead, on a thread of their own, while this one writes.
        ranges: queue.Queue[_Decoded | BaseException | None] = queue.Queue(maxsize=max(self.prefetch, 1))
        halt = threading.Event()

        def fetch_ahead(start: int) -> None:
            try:
                while start <= target and not halt.is_set():
                    fetched = self.fetcher.fetch(start, target)
                    decoded = _Decoded(fetched, self._decode(fetched))
                    while not halt.is_set():
                        try:
                            ranges.put(decoded, timeout=0.2)
                            break
                        except queue.Full:
                            continue
                    start = fetched.end + 1
                ranges.put(None)
            except BaseException as exc:  # handed to the consumer, which re-raises it
                ranges.put(exc)

        if self.applier.submitted_ahead:
            self._rewarm()  # the last run stopped with the rules a range ahead of the index
        worker = threading.Thread(target=fetch_ahead, args=(self.checkpoint.last_block + 1,), daemon=True)
        worker.start()
        began, events_before = time.perf_counter(), self.checkpoint.event_count
        pipelined = self.applier.pipelined
        held: object = _NOTHING  # the queue's next item, taken ahead
        try:
            while not stop.is_set():
                item = ranges.get() if held is _NOTHING else held
                held = _NOTHING
                if item is None:
                    return
                if isinstance(item, ChainMoved):
                    raise Reorg(str(item)) from item
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, _Decoded)
                # With the rules in a process of their own, the next range, if already fetched and continuing
                # this one, is handed to the rules before this range commits.
                ahead: list[IndexedEvent] | None = None
                if pipelined:
                    with contextlib.suppress(queue.Empty):
                        held = ranges.get_nowait()
                    if (
                        isinstance(held, _Decoded)
                        and held.range.start == item.range.end + 1
                        and held.range.parent_hash == item.range.end_hash
                    ):
                        ahead = held.events  # the same list is applied next (Applier.apply requires it)
                self._commit_range(item.range, item.events, ahead)
                if progress is not None:
                    elapsed = max(time.perf_counter() - began, 1e-9)
                    progress(Progress(self.checkpoint.last_block, target, self.checkpoint.event_count,
                                      (self.checkpoint.event_count - events_before) / elapsed,
                                      self.rpc.rpc_calls + self.fetch_rpc.rpc_calls, self.reorgs))  # fmt: skip
        finally:
            halt.set()
            while worker.is_alive():
                with contextlib.suppress(queue.Empty):
                    ranges.get(timeout=0.05)
            worker.join()

    def _decode(self, fetched: FetchedRange) -> list[IndexedEvent]:
        began = time.perf_counter()
        events = [e for e in map(self.decoder.decode, fetched.logs) if e is not None]
        self.timings["decode"] += time.perf_counter() - began
        return events

    def _commit_range(self, fetched: FetchedRange, events: list[IndexedEvent],
                      ahead: list[IndexedEvent] | None = None) -> None:  # fmt: skip
        """Commits one range; `ahead`, the next range's events, goes to a rule process before this one commits."""
        checkpoint = self.checkpoint
        if fetched.start != checkpoint.last_block + 1 or fetched.parent_hash != checkpoint.last_block_hash:
            if self.applier.submitted_ahead:
                self._rewarm()
            raise Reorg(f"blocks from {fetched.start} do not continue the indexed chain")
        decoded = time.perf_counter()
        self.timings["rpc"] += fetched.seconds
        db = self.db
        self._begin()
        try:
            digest, count = self.applier.apply(events, checkpoint.digest, ahead=ahead)
            db.executemany(_REMEMBER_BLOCK, list(fetched.block_hashes.items()))
            db.execute("DELETE FROM indexed_block WHERE number < ?", (fetched.end - REORG_WINDOW,))
            new = Checkpoint(fetched.end, fetched.end_hash, checkpoint.event_count + count, digest)
            self._write_checkpoint(new)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            self._rewarm()
            raise
        self.timings["db"] += time.perf_counter() - decoded
        self.checkpoint = new
        self._advanced()

    def _begin(self) -> None:
        # SQLite: take the write lock at once. PostgreSQL: this indexer is the only writer (IndexerLock).
        self.db.execute("BEGIN" if self.postgres else "BEGIN IMMEDIATE")

    # ---------------------------------------------------------------------------------------------
    def _checked_target(self, until: int | None) -> int:
        """The confirmed head (or `until`), having checked in the same round trip that the checkpoint's block
        is still the one indexed (Reorg if not)."""
        last = self.checkpoint.last_block
        if last < self.manifest.registry.deploy_block:
            return self._target(until)
        number, block = self.rpc.call_batch([("eth_blockNumber", []), ("eth_getBlockByNumber", [hex(last), False])])
        if block is None or block["hash"].lower() != self.checkpoint.last_block_hash:
            raise Reorg(f"block {last} is no longer the one indexed")
        head = int(number, 16) - self.confirmations
        return head if until is None else min(head, until)

    def _handle_reorg(self) -> None:
        """Rolls back to the highest stored block still canonical, then derived state is rebuilt."""
        self.reorgs += 1
        ancestor, ancestor_hash = self._common_ancestor()
        db = self.db
        self._begin()
        try:
            db.execute("DELETE FROM chain_event WHERE block_number > ?", (ancestor,))
            db.execute("DELETE FROM indexed_block WHERE number > ?", (ancestor,))
            self._rederive()
            last = db.execute("SELECT digest FROM chain_event ORDER BY block_number DESC, log_index DESC LIMIT 1")
            row = last.fetchone()
            count = db.execute("SELECT COUNT(*) FROM chain_event").fetchone()[0]
            digest = row[0] if row else genesis_digest(self.chain_id, self.address)
            new = Checkpoint(ancestor, ancestor_hash, count, digest)
            self._write_checkpoint(new)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            self._rewarm()
            raise
        self.checkpoint = new
        self._advanced()

    def _rederive(self) -> None:
        """Rebuilds every derived table from the stored events, inside the caller's transaction."""
        db = self.db
        for table in DERIVED_TABLES:
            db.execute(f'DELETE FROM "{table}"')  # quoted: freeze is a keyword in PostgreSQL
        rows = db.execute(
            "SELECT name, args, block_number, tx_hash, log_index, block_time FROM chain_event"
            " ORDER BY block_number, log_index"
        )
        self.applier.replay(rows)

    def _rederive_if_stale(self) -> None:
        """An index written by an older derivation (node.index.db.DERIVATION_VERSION) re-derives its tables from
        its events once; the events, the checkpoint and the digest stay as they are."""
        db = self.db
        if derivation_version(db) >= DERIVATION_VERSION:
            return
        self._begin()
        try:
            if self.checkpoint.event_count:
                log.info("index derived by an older version: re-deriving its tables from %d events",
                         self.checkpoint.event_count)  # fmt: skip
                self._rederive()
            set_derivation_version(db)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _rewarm(self) -> None:
        """After a rollback the rules' memory is ahead of the index: rebuild it from what is committed."""
        if self.applier.risk is not None:
            self.applier.risk.warm(self.db)

    def _common_ancestor(self) -> tuple[int, str]:
        stored = self.db.execute("SELECT number, hash FROM indexed_block ORDER BY number DESC").fetchall()
        for offset in range(0, len(stored), 64):
            window = stored[offset : offset + 64]
            blocks = self.rpc.call_batch([("eth_getBlockByNumber", [hex(n), False]) for n, _ in window])
            for (number, known), block in zip(window, blocks, strict=True):
                if block is not None and block["hash"].lower() == known:
                    return number, known
        return self._before_deploy()

    def _before_deploy(self) -> tuple[int, str]:
        number = self.manifest.registry.deploy_block - 1
        block = self.rpc.call("eth_getBlockByNumber", hex(number), False) if number >= 0 else None
        return number, block["hash"].lower() if block else _ZERO_HASH

    # ---------------------------------------------------------------------------------------------
    def _load_or_create_checkpoint(self) -> Checkpoint:
        row = self.db.execute(
            "SELECT chain_id, contract, last_block, last_block_hash, event_count, digest FROM checkpoint WHERE id = 1"
        ).fetchone()
        if row is not None:
            chain_id, contract, last_block, last_hash, count, digest = row
            if (chain_id, contract) != (self.chain_id, self.address):
                raise DeploymentError(
                    f"the index holds chain {chain_id} contract {contract}, not this deployment: delete it to re-index"
                )
            return Checkpoint(last_block, last_hash, count, digest)
        number, block_hash = self._before_deploy()
        checkpoint = Checkpoint(number, block_hash, 0, genesis_digest(self.chain_id, self.address))
        self._begin()
        self._write_checkpoint(checkpoint)
        if number >= 0:
            self.db.execute(_REMEMBER_BLOCK, (number, block_hash))
        self.db.execute("COMMIT")
        return checkpoint

    def _write_checkpoint(self, c: Checkpoint) -> None:
        self.db.execute(
            "INSERT INTO checkpoint (id, chain_id, contract, deploy_block, last_block, last_block_hash, event_count,"
            " digest) VALUES (1, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET last_block = excluded.last_block,"
            " last_block_hash = excluded.last_block_hash, event_count = excluded.event_count, digest = excluded.digest",
            (self.chain_id, self.address, self.manifest.registry.deploy_block, c.last_block, c.last_block_hash,
             c.event_count, c.digest),
        )  # fmt: skip
