"""A console query worker: `python -m node.supervision.sqlworker <memory_mb>`, started by node.supervision.sqlpool.

It lives in a process of its own so that its memory limit (RLIMIT_AS), CPU backstop (RLIMIT_CPU) and the
parent's SIGKILL on an overrun touch nothing but the query: the indexer keeps running in the API process.
It imports only the standard library, node.errors and node.supervision.sql, so it starts in a fraction of a
second with little memory. Requests and answers are frames on its stdin and stdout: a 4-byte big-endian
length, then the bytes.

    request:  {"path", "query", "limits": SqlLimits}
    answer:   {"ok": true, "rows", "truncated_by"} then a frame with the JSON body
              {"ok": false, "kind": "invalid" | "forbidden", "code", "message"}
"""

import json
import math
import os
import resource
import signal
import struct
import sys
from pathlib import Path
from typing import Any, BinaryIO

from node.errors import CodedError, Forbidden
from node.supervision.sql import SqlLimits, run_readonly_sql

_LENGTH = struct.Struct(">I")
_REQUEST_BYTES = 1_000_000


def write_frame(out: BinaryIO, data: bytes) -> None:
    out.write(_LENGTH.pack(len(data)) + data)
    out.flush()


def read_frame(source: BinaryIO, most: int) -> bytes | None:
    """A whole frame, or None at the end of the stream."""
    head = source.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(head)
    if size > most:
        raise ValueError(f"a frame of {size} bytes is over {most}")
    data = source.read(size)
    return data if len(data) == size else None


def _confine(memory_mb: int) -> None:
    size = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (size, size))
    # SQLite's temporary files (sorts, large intermediate results) are bounded as memory is: a write past
    # the limit fails with EFBIG ("disk is full") instead of the default SIGXFSZ killing the worker.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Ctrl-C reaches the whole process group; the parent decides when a worker ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _cpu_backstop(time_limit_s: float) -> None:
    """RLIMIT_CPU counts the process's whole life, so each query gets its own allowance above what is spent.
    The parent's wall-clock kill comes first; this only matters if the parent itself is stuck."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(usage.ru_utime + usage.ru_stime + 2 * time_limit_s) + 2
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))


def _answer(request: dict[str, Any]) -> list[bytes]:
    limits = SqlLimits(**request["limits"])
    _cpu_backstop(limits.time_limit_s)
    try:
        summary, body = run_readonly_sql(Path(request["path"]), request["query"], limits)
    except CodedError as refused:
        kind = "forbidden" if isinstance(refused, Forbidden) else "invalid"
        return [json.dumps({"ok": False, "kind": kind, "code": refused.code, "message": refused.message}).encode()]
    except MemoryError:
        message = "the query needs more memory than a console query has"
        return [json.dumps({"ok": False, "kind": "invalid", "code": "sql_too_large", "message": message}).encode()]
    return [json.dumps({"ok": True, **summary}).encode(), body]


def main() -> None:
    _confine(int(sys.argv[1]))
    # Frames go out on a private copy of stdout; anything printed by mistake goes to stderr instead.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    source = sys.stdin.buffer
    write_frame(out, json.dumps({"ready": os.getpid()}).encode())
    while (frame := read_frame(source, _REQUEST_BYTES)) is not None:  # ends when the parent closes stdin
        for part in _answer(json.loads(frame)):
            write_frame(out, part)


if __name__ == "__main__":
    main()
