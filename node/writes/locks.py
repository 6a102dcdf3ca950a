"""Locks shared by the processes of one node (several API workers on one data directory).

A `FileLock` is an exclusive `flock` on a file in the data directory: the kernel releases it when its
holder dies, kill -9 included, so a lock never outlives its process. The node uses two: the send gate
(one process at a time journals and sends a transaction) and the indexer's (one process at a time writes
the index; the others wait to take over).
"""

import fcntl
import os
import threading
from pathlib import Path

import psycopg


class FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    def acquire(self) -> None:
        fcntl.flock(self._open(), fcntl.LOCK_EX)

    def try_acquire(self) -> bool:
        try:
            fcntl.flock(self._open(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def note(self, text: str) -> None:
        """Writes who holds the lock into its file (read by operators and tests), holding it."""
        fd = self._open()
        os.ftruncate(fd, 0)
        os.pwrite(fd, text.encode(), 0)

    def holder(self) -> str:
        try:
            return self.path.read_text()
        except FileNotFoundError:
            return ""

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class PgAdvisoryLock:
    """A PostgreSQL session advisory lock on a connection of its own: exclusive across every process and host
    using the database; the server frees it when the holder's connection ends, a killed process included."""

    def __init__(self, url: str, key: int) -> None:
        self.url = url
        self.key = key
        self._db = psycopg.connect(url, autocommit=True)

    def acquire(self) -> None:
        self._db.execute("SELECT pg_advisory_lock(%s)", (self.key,))

    def release(self) -> None:
        self._db.execute("SELECT pg_advisory_unlock(%s)", (self.key,))

    def close(self) -> None:
        self._db.close()


class SendGate:
    """Held while a transaction is journalled and sent, and by a recovery for as long as it re-sends.

    Re-entrant within a process (a recovery sends while holding it); with `share(lock)` also exclusive
    across the processes of the node, and then `shared` tells senders that nonces and the journal's
    highest block may have moved in another process since they last looked."""

    def __init__(self) -> None:
        self._local = threading.RLock()
        self._depth = 0
        self._across: FileLock | PgAdvisoryLock | None = None

    @property
    def shared(self) -> bool:
        return self._across is not None

    def share(self, lock: FileLock | PgAdvisoryLock) -> bool:
        """Makes the gate exclusive across processes with `lock`; False (and nothing changes) if it is already:
        two nodes in one process (tests) keep the first one's lock, which excludes them both just as well."""
        with self._local:
            if self._across is not None:
                return False
            self._across = lock
            return True

    def unshare(self, lock: FileLock | PgAdvisoryLock) -> None:
        with self._local:
            if self._across is lock:
                self._across = None

    def __enter__(self) -> "SendGate":
        self._local.acquire()
        if self._depth == 0 and self._across is not None:
            try:
                self._across.acquire()
            except BaseException:
                self._local.release()
                raise
        self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0 and self._across is not None:
            self._across.release()
        self._local.release()
