"""The risk rules in a process of their own, so that they and the indexer's apply stage each have a core.

The indexer hands a range's events to the worker (in batches, through a pipe, written by a thread of its
own so that the indexer never waits for the worker to read) together with a request for their alerts and,
before it commits the range, waits for that reply, whose alerts go into the same transaction as its
events. It submits the next range as soon as it has it, before it waits for and commits the current one
(`submit`; `take` answers the oldest submitted range): the rules check range N+1 while the indexer writes
and commits range N, and the worker does not idle through the commit. The worker runs the same
`RiskEngine`, on the same events in the same order, so the alerts are exactly those of the engine run in
the indexer's own thread; only the time moves to the other core. Every request carries a sequence number
its reply repeats: replies to requests made before a `reset` or `warm` (a range submitted ahead that will
not be applied) are read and dropped.

A worker that fails or dies fails the range it was checking: the indexer rolls that range back and warms
the rules again, which starts a new worker if the old one is gone. A worker whose indexer is gone (even
killed with SIGKILL) sees its pipe close and exits.
"""

import gc
import multiprocessing
import queue
import signal
import sqlite3
import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from multiprocessing.connection import Connection
from typing import Any

from node.index.db import open_reader
from node.risk.engine import RiskEngine
from node.store.dialect import PgConnection

BATCH = 500  # events per message (about 135 kB pickled): the rules start on a range soon after it does
STOP_WAIT_S = 5.0
LIVENESS_S = 1.0


class RiskWorkerError(RuntimeError):
    """The rule process failed or is gone; the range it was checking must not be committed."""


def _serve(connection: Connection, build: Callable[[], RiskEngine]) -> None:
    # The engine keeps millions of live objects (its windows) and makes no reference cycles: what it drops,
    # reference counting frees. After each range its objects are frozen out of the collector's sight, so
    # that a collection walks only what the current range made (a sixth of the rules' time otherwise).
    gc.set_threshold(50_000, 20, 20)
    # A terminal's Ctrl-C goes to the whole process group: the indexer stops this process (or its end of the
    # pipe closes), so the signal must not kill it under a range being checked, nor print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    engine = build()
    failure: str | None = None  # once an event fails, the engine's state is unknown until reset or warmed
    while True:
        try:
            message = connection.recv()
        except EOFError:
            return  # the indexer is gone
        kind = message[0]
        if kind == "events":
            if failure is None:
                try:
                    for event in message[1]:
                        engine.observe(*event)
                except Exception:
                    failure = traceback.format_exc()
        elif kind == "take":
            seq = message[1]
            connection.send(("error", seq, failure) if failure is not None else ("taken", seq, *engine.take()))
            gc.freeze()
        elif kind == "reset":
            engine.reset()
            failure = None
        elif kind == "warm":
            seq = message[2]
            try:
                db = open_reader(message[1])
                try:
                    engine.warm(db)
                finally:
                    db.close()
                failure = None
                connection.send(("warmed", seq))
            except Exception:
                failure = traceback.format_exc()
                connection.send(("error", seq, failure))
        elif kind == "stop":
            return


def _write(connection: Connection, outbox: "queue.SimpleQueue[tuple[Any, ...] | None]") -> None:
    """The sender thread: pickles and writes the messages in order, blocking on the pipe, not the indexer."""
    while (message := outbox.get()) is not None:
        try:
            connection.send(message)
        except OSError:
            return  # the worker is gone: the caller learns it from the reply it waits for


class RiskWorker:
    """Stands in for a `RiskEngine` inside the indexer (observe, take, reset, warm), running it elsewhere.

    `build` makes the engine in the new process: a module-level function or a `functools.partial` of one,
    since it is pickled to a freshly spawned interpreter (spawn, not fork: the node has threads)."""

    def __init__(self, build: Callable[[], RiskEngine], *, batch: int = BATCH) -> None:
        self._build = build
        self._batch = batch
        self._pending: list[tuple[Any, ...]] = []
        self._seq = 0  # the last request's sequence number
        self._asked: deque[int] = deque()  # the take requests sent and not yet answered, oldest first
        self._connection: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self._outbox: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._sender: threading.Thread | None = None
        self._start()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def submitted(self) -> int:
        """Ranges submitted whose alerts were not taken yet (a reset or warm drops them)."""
        return len(self._asked)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=_serve, args=(child, self._build), name="sinknode-risk", daemon=True)
        process.start()
        child.close()
        self._connection, self._process = parent, process
        self._outbox = queue.SimpleQueue()
        self._sender = threading.Thread(
            target=_write, args=(parent, self._outbox), name="sinknode-risk-sender", daemon=True
        )
        self._sender.start()

    # the engine's interface ------------------------------------------------------------------------
    def observe(self, name: str, args: dict[str, Any], block: int, log: int, tx: str, when: int) -> None:
        pending = self._pending
        pending.append((name, args, block, log, tx, when))
        if len(pending) >= self._batch:
            self._pending = []
            self._send(("events", pending))

    def flush(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, []
            self._send(("events", pending))

    def submit(self, events: Iterable[tuple[Any, ...]]) -> None:
        """Hands over a range's events (name, args, block, log, tx, time) and asks for their alerts at once; a
        later `take` returns them. Ranges may be submitted ahead: each `take` answers the oldest one."""
        self.flush()
        batch = self._batch
        pending: list[tuple[Any, ...]] = []
        for event in events:
            pending.append(event)
            if len(pending) >= batch:
                self._send(("events", pending))
                pending = []
        if pending:
            self._send(("events", pending))
        self._ask()

    def take(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """The alerts and notes of the oldest submitted range, or else of every event observed since the last
        take; waits for them."""
        if not self._asked:
            self._ask()
        reply = self._receive(self._asked.popleft())
        return reply[2], reply[3]

    def reset(self) -> None:
        self._pending = []
        self._asked.clear()  # their replies, still on the way, are dropped when they come
        self._send(("reset",))

    def warm(self, db: sqlite3.Connection) -> None:
        """Rebuilds the rules' memory from what `db` has committed (starting a new worker if need be)."""
        self._pending = []
        self._asked.clear()
        if not self.running:
            self._stop()
            self._start()
        # Where the worker reads the index from: the PostgreSQL index's URL, or the SQLite file's path.
        path = db.url if isinstance(db, PgConnection) else db.execute("PRAGMA database_list").fetchone()[2]
        self._seq += 1
        self._send(("warm", path, self._seq))
        self._receive(self._seq)

    def close(self) -> None:
        if self._connection is not None:
            self._send(("stop",))
        self._stop()

    # -----------------------------------------------------------------------------------------------
    def _send(self, message: tuple[Any, ...]) -> None:
        if self._connection is None:
            raise RiskWorkerError("the risk rule process is not running")
        self._outbox.put(message)  # a worker that is gone shows when the reply to the next call does not come

    def _ask(self) -> None:
        self.flush()
        self._seq += 1
        self._send(("take", self._seq))
        self._asked.append(self._seq)

    def _receive(self, seq: int) -> tuple[Any, ...]:
        """The reply to request `seq`, dropping the replies to earlier requests (made before a reset or warm)."""
        connection, process = self._connection, self._process
        if connection is None or process is None:
            raise RiskWorkerError("the risk rule process is not running")
        try:
            while True:
                # The pipe closes when the worker dies; the liveness check is for a death the pipe misses.
                while not connection.poll(LIVENESS_S):
                    if not process.is_alive():
                        raise EOFError(f"exit code {process.exitcode}")
                reply: tuple[Any, ...] = connection.recv()
                if reply[1] >= seq:
                    break
        except (EOFError, ConnectionResetError, OSError) as error:
            raise RiskWorkerError(f"the risk rule process is gone ({error!r})") from error
        if reply[0] == "error":
            raise RiskWorkerError(f"the risk rules failed:\n{reply[2]}")
        return reply

    def _stop(self) -> None:
        process, connection, sender = self._process, self._connection, self._sender
        self._process = self._connection = self._sender = None
        if sender is not None:
            self._outbox.put(None)
            sender.join(STOP_WAIT_S)
        if process is not None:
            process.join(STOP_WAIT_S)
            if process.is_alive():
                process.kill()
                process.join(STOP_WAIT_S)
            process.close()
        if connection is not None:
            connection.close()
