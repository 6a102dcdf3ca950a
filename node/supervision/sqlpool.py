"""The console's worker processes: a few pre-started workers (node.supervision.sqlworker), one query each at a
time, killed when a query overruns its time and replaced when they die.

A worker is started with exec (never fork: the API process has threads) as `python -m`, so it imports only
what a query needs, not the parent's main module. A request waits a bounded time for a free worker (503
`sql_busy` after that); the parent kills a worker whose answer is late, which also stops one long call
(a huge instr, a printf) that SQLite's progress handler cannot interrupt.
"""

import contextlib
import json
import logging
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from queue import Empty, Queue
from typing import Any

from node.errors import Forbidden, InvalidRequest, Unavailable
from node.settings import Settings
from node.supervision.sql import SqlLimits

log = logging.getLogger("sinknode.sql")

_LENGTH = struct.Struct(">I")
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
START_TIMEOUT_S = 15.0  # a fresh interpreter on a loaded machine
KILL_GRACE_S = 0.5  # the worker's own progress handler answers sql_timeout first; the kill is for what it misses
BODY_TIMEOUT_S = 10.0  # to read an answer already made (at most the byte budget) through the pipe
HEADER_BYTES = 1_000_000
RECYCLE_AFTER = 1_000  # queries: a long-lived worker's heap is not worth trusting forever
CLOSE_WAIT_S = 5.0


class _Overran(Exception):
    pass


class _Died(Exception):
    pass


class SqlWorker:
    """One worker process and its pipes; used by one request at a time."""

    def __init__(self, memory_mb: int) -> None:
        # Not the node's environment: it may hold SINKNODE_ secrets a query's process has no use for.
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": _PACKAGE_ROOT}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "node.supervision.sqlworker", str(memory_mb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
            env=env,
            close_fds=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self._in, self._out = self.process.stdin, self.process.stdout
        self._poll = select.poll()  # not select(): the API process may hold more than 1024 descriptors
        self._poll.register(self._out.fileno(), select.POLLIN)
        self.ready = False
        self.queries = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read_exact(self, size: int, deadline: float) -> bytes:
        chunks: list[bytes] = []
        got = 0
        while got < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._poll.poll(max(1, int(remaining * 1000))):
                raise _Overran
            try:
                chunk = os.read(self._out.fileno(), min(size - got, 1 << 20))
            except (OSError, ValueError):  # closed under us at shutdown
                raise _Died from None
            if not chunk:
                raise _Died
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def _read_frame(self, deadline: float, most: int) -> bytes:
        (size,) = _LENGTH.unpack(self._read_exact(_LENGTH.size, deadline))
        if size > most:
            raise InvalidRequest("sql_too_large", f"the answer is over {most} bytes")
        return self._read_exact(size, deadline)

    def wait_ready(self) -> None:
        if not self.ready:
            self._read_frame(time.monotonic() + START_TIMEOUT_S, HEADER_BYTES)
            self.ready = True

    def ask(self, request: dict[str, Any], deadline: float, body_bytes: int) -> tuple[dict[str, Any], bytes]:
        data = json.dumps(request).encode()
        try:
            self._in.write(_LENGTH.pack(len(data)) + data)  # a few kB: fits the pipe, never blocks
        except (OSError, ValueError):
            raise _Died from None
        header = json.loads(self._read_frame(deadline, HEADER_BYTES))
        self.queries += 1
        body = self._read_frame(time.monotonic() + BODY_TIMEOUT_S, body_bytes) if header.get("ok") else b""
        return header, body

    def kill(self) -> None:
        """Only the signal: the pipes stay for the thread that may be reading them."""
        if self.process.poll() is None:
            self.process.kill()

    def stop(self) -> None:
        """Ends the process (EOF on stdin asks it to leave; SIGKILL if it does not) and closes the pipes."""
        with contextlib.suppress(OSError):  # a dead worker's pipe
            self._in.close()
        try:
            self.process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):  # shutdown goes on; the kernel reaps it later
                self.process.wait(timeout=5.0)
        self._out.close()

    def exit_description(self) -> tuple[int | None, str]:
        try:
            code = self.process.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            return None, "did not answer"
        if code < 0:
            return -code, f"was killed by {signal.Signals(-code).name}"
        return None, f"exited with status {code}"


@dataclass
class SqlAnswer:
    rows: int
    truncated_by: str | None
    body: bytes  # the final JSON body


class SqlPool:
    def __init__(self, index_path: Path, limits: SqlLimits, *, workers: int, memory_mb: int, wait_s: float) -> None:
        self.index_path = index_path
        self.limits = limits
        self.memory_mb = memory_mb
        self.wait_s = wait_s
        self.size = workers
        self._idle: Queue[SqlWorker | None] = Queue()  # None: a slot whose worker could not be started
        self._live: set[SqlWorker] = set()
        self._changed = threading.Condition()
        self._closed = False
        for _ in range(workers):
            self._idle.put(self._start())

    @classmethod
    def from_settings(cls, settings: Settings) -> "SqlPool":
        limits = SqlLimits(
            time_limit_s=settings.sql_time_limit_s,
            row_cap=settings.sql_row_cap,
            max_value_bytes=settings.sql_max_value_bytes,
            result_bytes=settings.sql_result_bytes,
        )
        return cls(
            settings.index_path,
            limits,
            workers=settings.sql_workers,
            memory_mb=settings.sql_memory_mb,
            wait_s=settings.sql_queue_wait_s,
        )

    def pids(self) -> list[int]:
        with self._changed:
            return sorted(w.pid for w in self._live)

    def _start(self) -> SqlWorker | None:
        try:
            worker = SqlWorker(self.memory_mb)
        except OSError as error:
            log.warning("an SQL worker could not be started: %s", error)
            return None
        with self._changed:
            self._live.add(worker)
        return worker

    def _retire(self, worker: SqlWorker) -> None:
        worker.stop()
        with self._changed:
            self._live.discard(worker)
            self._changed.notify_all()

    def _give_back(self, worker: SqlWorker | None, keep: bool) -> None:
        if self._closed:
            if worker is not None:
                self._retire(worker)
            return
        if not keep:
            if worker is not None:
                worker.kill()
                self._retire(worker)
            worker = self._start()  # replaced at once, so the next query does not pay the start-up
        self._idle.put(worker)

    def run(self, query: str) -> SqlAnswer:
        try:
            worker = self._idle.get(timeout=self.wait_s)
        except Empty:
            raise Unavailable("sql_busy", f"all {self.size} SQL workers stayed busy for {self.wait_s}s") from None
        keep = False
        try:
            if self._closed:
                raise Unavailable("sql_unavailable", "the node is shutting down")
            if worker is None:
                worker = self._start()
                if worker is None:
                    raise Unavailable("sql_unavailable", "no SQL worker could be started")
            header, body = self._ask(worker, query)
            keep = header.get("code") != "sql_too_large" and worker.queries < RECYCLE_AFTER
            if not header["ok"]:
                refusal = Forbidden if header["kind"] == "forbidden" else InvalidRequest
                raise refusal(header["code"], header["message"])
            return SqlAnswer(rows=header["rows"], truncated_by=header["truncated_by"], body=body)
        finally:
            self._give_back(worker, keep)

    def _ask(self, worker: SqlWorker, query: str) -> tuple[dict[str, Any], bytes]:
        limit = self.limits.time_limit_s
        try:
            worker.wait_ready()
        except (_Overran, _Died):
            raise Unavailable("sql_unavailable", "an SQL worker did not start; retry") from None
        request = {"path": str(self.index_path), "query": query, "limits": self.limits.as_dict()}
        try:
            return worker.ask(request, time.monotonic() + limit + KILL_GRACE_S, self.limits.result_bytes + 4_000_000)
        except _Overran:
            worker.kill()
            raise InvalidRequest("sql_timeout", f"the query ran over {limit}s and its worker was stopped") from None
        except _Died:
            signal_number, how = worker.exit_description()
            if signal_number == signal.SIGXCPU:
                raise InvalidRequest("sql_timeout", f"the query used more CPU than its {limit}s allow") from None
            raise InvalidRequest(
                "sql_too_large",
                f"the query's worker {how}: most likely the query needed more than {self.memory_mb} MB",
            ) from None

    def close(self) -> None:
        """Stops idle workers, kills busy ones and waits (bounded) for their requests to hand them back."""
        self._closed = True
        with self._changed:
            busy = set(self._live)
        for _ in range(self.size + 1):
            try:
                worker = self._idle.get_nowait()
            except Empty:
                break
            if worker is not None:
                busy.discard(worker)
                self._retire(worker)
        for worker in busy:
            worker.kill()
        deadline = time.monotonic() + CLOSE_WAIT_S
        with self._changed:
            while self._live and time.monotonic() < deadline:
                self._changed.wait(timeout=0.1)
            left = list(self._live)
        for worker in left:
            self._retire(worker)
