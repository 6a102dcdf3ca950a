"""Files and directories only the node's own user reads: databases, keys, evidence.

Modes are set explicitly, not left to the umask: a node started from a shell with umask 022 would otherwise
leave its databases and evidence world-readable. Directories are 0700, files 0600. Existing ones are
tightened too, so a data directory made by an older node is brought in line when it is opened.
"""

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

DIR_MODE = 0o700
FILE_MODE = 0o600
# SQLite gives the journal, WAL and shared-memory files the main file's mode when it creates them; ones made
# by an older node keep theirs, so they are tightened with it.
_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_dir(path: Path, *, tighten: bool = True) -> Path:
    """Creates the directory (and any missing parents) 0700; an existing one is tightened to 0700 unless
    `tighten` is false (the data directory itself may be one the operator chose and shares)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it first: it is tightened below
            directory.mkdir(mode=DIR_MODE)
        os.chmod(directory, DIR_MODE)
    if tighten and path not in missing:
        os.chmod(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Makes sure the file exists with mode 0600, without touching its content."""
    private_dir(path.parent, tighten=False)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    os.chmod(path, FILE_MODE)
    return path


def key_made_once(path: Path) -> str:
    """The text of a 32-byte random key (hex) kept in `path` (0600), made the first time it is asked for; another
    process making it at the same moment keeps the first one written."""
    if not path.exists():
        private_dir(path.parent)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        except FileExistsError:
            pass  # another process of this node made it a moment ago: read theirs
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(os.urandom(32).hex())
    return path.read_text()


def private_sqlite(path: Path) -> Path:
    """Prepares a SQLite database path before sqlite3 opens it: the file 0600 (so the WAL and SHM files
    SQLite creates beside it get 0600 too), and any side files an older node left tightened."""
    private_file(path)
    for suffix in _SQLITE_SIDE_FILES:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(f"{path}{suffix}", FILE_MODE)
    return path


@contextlib.contextmanager
def private_temp(directory: Path, prefix: str) -> Iterator[tuple[Path, BinaryIO]]:
    """A new 0600 temporary file in `directory`, open for writing; removed on the way out unless the caller
    has moved it away (os.replace) by then."""
    private_dir(directory, tighten=False)
    path = directory / f".{prefix}-{os.getpid()}-{os.urandom(6).hex()}.tmp"
    handle = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE), "wb")
    try:
        with handle:
            yield path, handle
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
