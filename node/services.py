"""What the routes work with, built once per app: chain client, index, keys, evidence, node state.

The API runs the indexer in a thread of its own process, so a write can wait until the index holds
its receipt's block and the next read sees it (read-your-writes), and the reconciler in another
(node.writes.reconciler). Before either starts, journalled transactions the chain lacks are re-sent.
"""

import logging
import os
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from eth_account.signers.local import LocalAccount

from node.chain.keystore import Keystore
from node.chain.manifest import DeploymentManifest, load_manifest
from node.chain.registry import RegistryClient
from node.chain.rpc import RpcClient
from node.chain.sender import SEND_GATE, TransactionSender
from node.errors import ChainUnavailable, ContractRevert, SinkError
from node.evidence.store import EvidenceStore
from node.index.db import IndexerLock, ReaderPool, open_reader
from node.index.follower import Indexer
from node.index.queries import index_digest
from node.network.allowlist import AllowlistKeeper
from node.peers import RULE as PEER_RULE
from node.peers import PeerWatch
from node.risk.config import load_rules
from node.settings import Settings
from node.store import Store, TokenOwner
from node.store.sealed import Sealer
from node.supervision.facts import risk_rules
from node.supervision.sqlpool import SqlPool
from node.supervision.sqlschema import console_unavailable
from node.writes import ledger as _ledger_kinds  # noqa: F401  (registers the ledger's intent kinds)
from node.writes.guard import JournalGuard
from node.writes.locks import FileLock, PgAdvisoryLock
from node.writes.reconciler import Reconciler
from node.writes.recovery import Recovery
from node.writes.runner import Writes

log = logging.getLogger("sinknode.services")
SEND_LOCK_KEY = 0x53494E4B  # the PostgreSQL advisory lock of the send gate ("SINK")


def _refusal_status(error: SinkError) -> int:
    """A failed intent's status when no API set its own mapping (the API does: node.api.errors.status_of)."""
    return 409 if isinstance(error, ContractRevert) else 503 if isinstance(error, ChainUnavailable) else 422


@dataclass
class Services:
    settings: Settings
    manifest: DeploymentManifest
    rpc: RpcClient
    registry: RegistryClient
    state: Store
    keystore: Keystore
    evidence: EvidenceStore
    sealer: Sealer
    indexer: Indexer | None = None
    writes: Writes = field(init=False)
    guard: JournalGuard = field(init=False)
    reconciler: Reconciler = field(init=False)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _accounts: dict[str, LocalAccount] = field(default_factory=dict)
    _senders: dict[str, TransactionSender] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _reconciler_thread: threading.Thread | None = None
    _sql_pool: SqlPool | None = None
    _indexer_lock: FileLock | IndexerLock | None = None
    _send_lock: FileLock | PgAdvisoryLock | None = None
    _peer_thread: threading.Thread | None = None
    _reader_pool: ReaderPool | None = None  # a PostgreSQL index's read-only connections
    _tasks: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.settings.database_url:
            self._reader_pool = ReaderPool(self.settings.database_url)
        self.state.sealer = self.sealer  # kept answers are sealed at rest with the confidential-field key
        recovery = Recovery(self.rpc, self.state, on_dropped=lambda row: log.warning("dropped: %s", row["tx_hash"]))
        self.guard = JournalGuard(self.state, recovery, self.rpc)
        self.writes = Writes(
            self.state,
            context=self,
            wait_indexed=self.wait_indexed,
            indexed_block=self.indexed_block,
            error_status=_refusal_status,
        )
        self.reconciler = Reconciler(self.rpc, self.writes, recovery, self)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Services":
        manifest = load_manifest(settings.manifest_path)
        rpc = RpcClient(settings.effective_rpc_url)
        return cls(
            settings=settings,
            manifest=manifest,
            rpc=rpc,
            registry=RegistryClient(rpc, manifest.registry_abi(), manifest.registry.address),
            state=Store(settings.store_location),
            keystore=Keystore.from_settings(settings),
            evidence=EvidenceStore.from_settings(settings),
            sealer=Sealer.from_settings(settings),
        )

    # index --------------------------------------------------------------------------------------
    def start_indexer(self) -> None:
        s = self.settings
        if s.api_workers > 1 or s.database_url:
            # Several workers on this data directory, or nodes on several hosts sharing one PostgreSQL store.
            self._join_workers()
        self.recover()
        # The API starts even when the chain does not answer (chain-bound answers say 503 until it does, and
        # the follower opens the index and catches up then), as recovery does: a chain restarting under the
        # node, or stopped with it by a terminal's Ctrl-C, is no reason to fail the start.
        if self._indexer_lock is None:
            try:
                self._open_index()
            except ChainUnavailable as error:
                log.warning("the index opens when the chain answers: %s", error.message)

        def run() -> None:
            if self._indexer_lock is not None:
                # One worker indexes; the others wait here and the first to get the lock takes over when it dies
                # (the kernel frees a dead process's lock at once; a waiting worker looks twice a second).
                while not self._indexer_lock.try_acquire():
                    if self._stop.wait(0.5):
                        return
                self._indexer_lock.note(f"{os.getpid()} {self.state.worker_id}\n")
                log.info("worker %s indexes", self.state.worker_id)
            while not self._stop.is_set():
                try:
                    indexer = self.indexer or self._open_index()
                    indexer.follow(self._stop, poll_s=min(s.index_poll_s, 0.2))
                except ChainUnavailable:
                    self._stop.wait(1.0)

        self._thread = threading.Thread(target=run, name="indexer", daemon=True)
        self._thread.start()
        if self._indexer_lock is not None:
            self._wait_for_first_sync()  # the reconciler's steps read the index another worker may be creating
        self._reconciler_thread = threading.Thread(
            target=self.reconciler.run, args=(self._stop,), name="reconciler", daemon=True
        )
        self._reconciler_thread.start()
        if s.peers and s.peer_compare_s > 0:
            severity = load_rules(s.risk_rules)[PEER_RULE]["severity"]
            watch = PeerWatch(s.base_url, s.peers, s.peer_compare_s, self.state.save_report_alert, severity)
            self._peer_thread = threading.Thread(target=watch.run, args=(self._stop,), name="peers", daemon=True)
            self._peer_thread.start()

    def start_task(self, name: str, run: Callable[["Services", threading.Event], None]) -> None:
        """Runs `run(services, stop)` on a thread of its own until the services close (a schedule of the node's,
        such as checking saved needs: node.market.saved_needs)."""
        thread = threading.Thread(target=run, args=(self, self._stop), name=name, daemon=True)
        self._tasks.append(thread)
        thread.start()

    def _wait_for_first_sync(self) -> None:
        """A worker serves once the index holds the chain as it was when the worker started, as a lone node
        does after its first sync (whichever worker indexes); a chain that does not answer is no reason to wait."""
        try:
            head = self.rpc.block_number() - self.settings.confirmations
            self.wait_indexed(head, timeout_s=60.0)
        except ChainUnavailable as error:
            log.warning("serving before the index caught up: %s", error.message)

    @property
    def indexes_elsewhere(self) -> bool:
        """Another worker of this node may hold the index (this one waits to take over)."""
        return self._indexer_lock is not None and self.indexer is None

    def _join_workers(self) -> None:
        """One of several API workers on this data directory: the send gate becomes a lock across them, the
        worker says who it is in the store, and the indexer runs in whichever worker holds the index lock."""
        home = self.settings.home
        self.state.worker_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.state.register_worker(self.state.worker_id)
        url = self.settings.database_url
        # With the store and the index in PostgreSQL the gate and the index are the database's: every host's
        # workers send through the one gate, and one worker of all the hosts indexes.
        gate = PgAdvisoryLock(url, SEND_LOCK_KEY) if url else FileLock(home / "send.lock")
        if SEND_GATE.share(gate):
            self._send_lock = gate
        elif isinstance(gate, PgAdvisoryLock):
            gate.close()
        self._indexer_lock = IndexerLock(url) if url else FileLock(home / "indexer.lock")

    def _open_index(self) -> Indexer:
        """The indexer over the index file, synced once so that the first answers see the whole chain."""
        s = self.settings
        risk = risk_rules(s)
        try:
            indexer = Indexer(
                s.effective_rpc_url,
                self.manifest,
                s.index_location,
                confirmations=s.confirmations,
                max_range=s.index_range_blocks,
                timezone=s.aggregate_timezone,
                risk=risk,
                lock=self._indexer_lock if isinstance(self._indexer_lock, IndexerLock) else None,
            )
        except BaseException:
            if risk is not None:
                risk.close()
            raise
        indexer.on_rollback = self._rolled_back
        if s.permissions_file is not None:
            keeper = AllowlistKeeper(s.permissions_file, self.rpc)
            keeper.sync(indexer.db)  # an index already at the head commits nothing more until the next block
            indexer.after_commit.append(keeper.sync)
        self.guard.on_sent = indexer.poke  # the block of a write just sent is worth looking for at once
        self.indexer = indexer
        try:
            indexer.sync()
        except ChainUnavailable as error:
            log.warning("the first sync is postponed, the chain does not answer: %s", error.message)
        return indexer

    def recover(self) -> None:
        """Re-sends every journalled transaction the chain lacks (pending ones, and mined ones in blocks the
        chain no longer has), before anything new is sent."""
        try:
            self.guard.check_chain()
            self.guard.recovery.resend_missing(None)
        except ChainUnavailable as error:
            log.warning("recovery postponed, the chain does not answer: %s", error.message)

    def _rolled_back(self, block: int) -> None:
        try:
            self.guard.recover_from(block + 1)
        except ChainUnavailable as error:
            log.warning("recovery after a rollback postponed: %s", error.message)

    def indexed_block(self) -> int:
        """The last block the index holds: the follower's checkpoint when it runs here (it moves only after
        a commit), else read from the index."""
        if self.indexer is not None:
            return self.indexer.checkpoint.last_block
        try:
            db = self.reader()
            try:
                return int(index_digest(connection=db)[0])
            finally:
                db.close()
        except (sqlite3.OperationalError, psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName):
            return -1  # another worker indexes and has not created the index yet

    def close(self) -> None:
        self._stop.set()
        for thread in (self._thread, self._reconciler_thread, self._peer_thread, *self._tasks):
            if thread is not None:
                thread.join(timeout=30)
        if self.indexer is not None:
            self.indexer.close()
        if self._indexer_lock is not None:
            self._indexer_lock.close()  # closing the file frees the lock for the next worker
        if self._send_lock is not None:
            SEND_GATE.unshare(self._send_lock)
            self._send_lock.close()
        if self._sql_pool is not None:
            self._sql_pool.close()
        if self._reader_pool is not None:
            self._reader_pool.close()
        self.state.close()
        self.rpc.close()

    def reader(self) -> sqlite3.Connection:
        """A read-only connection to the index; its user closes it (a PostgreSQL one goes back to the pool)."""
        if self._reader_pool is not None:
            return self._reader_pool.take()  # type: ignore[return-value]
        return open_reader(self.settings.index_location)

    def sql_pool(self) -> SqlPool:
        """The regulator console's worker processes, started with the first console query."""
        if self.settings.database_url:
            raise console_unavailable()
        with self._lock:
            if self._sql_pool is None:
                self._sql_pool = SqlPool.from_settings(self.settings)
            return self._sql_pool

    def wait_indexed(self, block: int, timeout_s: float = 30.0) -> None:
        """Returns once the index holds `block` (reads after a write then see the write)."""
        deadline = time.monotonic() + timeout_s
        indexer = self.indexer
        if indexer is not None:  # the follower runs here: poke it and wait for its commit
            while time.monotonic() < deadline:
                with indexer.advanced:
                    if indexer.checkpoint.last_block >= block:
                        return
                    indexer.poke()
                    indexer.advanced.wait(timeout=0.05)
        else:
            pause = 0.005
            while time.monotonic() < deadline:
                if self.indexed_block() >= block:
                    return
                time.sleep(pause)
                pause = min(pause * 2, 0.1)
        raise ChainUnavailable(f"the index did not reach block {block} within {timeout_s}s")

    # signing --------------------------------------------------------------------------------------
    def sender_for(self, owner: TokenOwner) -> TransactionSender:
        return self.sender_for_key(owner.key_name)

    def sender_for_key(self, key_name: str) -> TransactionSender:
        with self._lock:
            sender = self._senders.get(key_name)
            if sender is None:
                account = self.account(key_name)
                s = self.settings
                sender = TransactionSender(
                    self.rpc,
                    account,
                    chain_id=self.manifest.chain_id,
                    abi=self.registry.abi,
                    gas_mode=s.gas_mode,
                    gas_price_wei=s.gas_price_wei,
                    timeout_s=s.tx_timeout_s,
                    journal=self.guard,
                )
                self._senders[key_name] = sender
            return sender

    def account(self, key_name: str) -> LocalAccount:
        """A keystore account, decrypted once per process and kept only in memory."""
        if key_name not in self._accounts:
            self._accounts[key_name] = self.keystore.load(key_name)
        return self._accounts[key_name]
