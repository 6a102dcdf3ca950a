"""Several API worker processes on one port, each with a listening socket of its own (SO_REUSEPORT).

uvicorn's own `--workers` shares one listening socket between its workers, and whichever worker wakes first
accepts every connection waiting (asyncio takes up to a hundred at a time): a burst of keep-alive clients can
land on one worker and leave the others idle. With a socket per worker bound with SO_REUSEPORT, the kernel
spreads new connections over the workers by a hash of their addresses instead.

    python -m node.api.workers --host 127.0.0.1 --port 8000 --workers 2

The supervisor starts the workers, starts a new one in place of any that dies (one of them indexes, and
another takes the index over: node.services), and on SIGTERM or SIGINT stops them all, SIGKILL after a grace
period. Where the platform has no SO_REUSEPORT it runs uvicorn's own process manager instead.
"""

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

import uvicorn

APP = "node.api.app:app_from_environment"
_STOP_GRACE_S = 25
_RESTART_PAUSE_S = 0.5


def reuse_port_available() -> bool:
    return hasattr(socket, "SO_REUSEPORT") and sys.platform.startswith("linux")


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(False)
    return sock


def run_worker(host: str, port: int, log_level: str) -> None:
    """One worker: its own socket on the shared port, the app from the environment."""
    sock = listening_socket(host, port)
    config = uvicorn.Config(APP, factory=True, log_level=log_level, host=host, port=port)
    uvicorn.Server(config).run(sockets=[sock])


def _worker_command(host: str, port: int, log_level: str) -> list[str]:
    return [sys.executable, "-m", "node.api.workers", "--host", host, "--port", str(port), "--log-level", log_level,
            "--one"]  # fmt: skip


def supervise(host: str, port: int, workers: int, log_level: str) -> int:
    if not reuse_port_available():
        return subprocess.call([sys.executable, "-m", "uvicorn", APP, "--factory", "--host", host, "--port", str(port),
                                "--workers", str(workers), "--log-level", log_level])  # fmt: skip
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    try:  # a port another program holds is said once here, not by every worker started again and again
        listening_socket(host, port).close()
    except OSError as exc:
        print(f"cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    command = _worker_command(host, port, log_level)
    children = [subprocess.Popen(command) for _ in range(workers)]
    try:
        while not stopping:
            time.sleep(_RESTART_PAUSE_S)
            for slot, child in enumerate(children):
                if child.poll() is not None and not stopping:
                    children[slot] = subprocess.Popen(command)  # a worker died: another in its place
    finally:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE_S
        for child in children:
            try:
                child.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=10)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description="several API workers on one port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # run as one of the workers
    args = parser.parse_args()
    if args.one:
        run_worker(args.host, args.port, args.log_level)
        return
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(supervise(args.host, args.port, args.workers, args.log_level))


if __name__ == "__main__":
    main()
