"""A local anvil process: started on loopback, waited for, and stopped by PID.

State persists across restarts through anvil's `--state` file (loaded at start, dumped on exit
and every `state_interval_s`), so a SIGTERM'd chain comes back with its blocks and contracts.

The node's own anvil also has a PID file (`pid_file`, JSON: its PID, its command line, the PID of the
process that started it). A node killed with SIGKILL leaves its anvil running as an orphan; the next start
recognises it (alive, its command line loads this state file, its parent is no longer the owner), stops it
gracefully so it dumps its state, and starts afresh from that state. Anything else answering on the port is
refused: it is not this node's chain.
"""

import collections
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from node.errors import ChainUnavailable
from node.settings import Settings

# anvil's documented default mnemonic; its accounts exist only on a local development chain.
DEV_MNEMONIC = "test test test test test test test test test test test junk"


@dataclass
class AnvilConfig:
    binary: Path
    host: str = "127.0.0.1"
    port: int = 8545
    chain_id: int = 31337
    state_file: Path | None = None
    state_interval_s: int = 5
    besu_style: bool = False
    log_file: Path | None = None
    pid_file: Path | None = None
    extra_args: list[str] = field(default_factory=list)

    def command(self) -> list[str]:
        cmd = [
            str(self.binary),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--chain-id",
            str(self.chain_id),
            "--mnemonic",
            DEV_MNEMONIC,
            "--hardfork",
            "prague",
        ]
        if self.state_file is not None:
            cmd += [
                "--state",
                str(self.state_file),
                "--state-interval",
                str(self.state_interval_s),
            ]
        if self.besu_style:
            # A Besu network with free gas: zero base fee and zero gas price.
            cmd += ["--base-fee", "0", "--gas-price", "0", "--disable-min-priority-fee"]
        return cmd + self.extra_args


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def anvil_binary(project_root: Path) -> Path:
    """The native anvil from the npm package (so a PID is anvil itself, not a node wrapper around it)."""
    native = sorted((project_root / "node_modules" / "@foundry-rs").glob("anvil-*/bin/anvil"))
    return native[0] if native else project_root / "node_modules" / ".bin" / "anvil"


def wait_for_rpc(url: str, timeout_s: float = 20.0, process: subprocess.Popen[bytes] | None = None) -> int:
    """Polls eth_chainId until it answers; returns the chain id."""
    deadline = time.monotonic() + timeout_s
    last_error = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ChainUnavailable(f"anvil exited with status {process.returncode} before answering")
        try:
            reply = httpx.post(
                url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=1.0
            )
            return int(reply.json()["result"], 16)
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            last_error = str(exc)
            time.sleep(0.05)
    raise ChainUnavailable(f"no JSON-RPC answer at {url} within {timeout_s}s: {last_error}")


def _command_line(pid: int) -> list[str] | None:
    """A live process's arguments; None if it is gone or a zombie (whose command line is empty)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [arg.decode(errors="replace") for arg in raw.split(b"\0")[:-1]] or None


def _parent_of(pid: int) -> int | None:
    try:
        # The command name in parentheses may hold spaces; the fields after its closing one are fixed.
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _gone(pid: int) -> bool:
    """Gone, or a zombie with no thread left: a process whose main thread exited (its command line is then
    empty) may still run other threads for a while, holding its port open."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return fields.get("State", "").strip().startswith("Z") and fields.get("Threads", "1").strip() in ("0", "1")


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.02)
    return _gone(pid)


def _wait_port_free(host: str, port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while _answers_on(host, port) and time.monotonic() < deadline:
        time.sleep(0.02)


def state_is_whole(path: Path) -> bool:
    """Whether a state file anvil wrote is complete: anvil rewrites it in place, so a chain killed while
    saving leaves it cut short, and a chain started from such a file does not start. A file up to 64 MB is
    parsed; a larger one is judged by its first and last bytes (a cut JSON object does not end in '}')."""
    try:
        size = path.stat().st_size
        if size == 0:
            return False
        if size <= 64 * 2**20:
            json.loads(path.read_bytes())
            return True
        with path.open("rb") as f:
            head = f.read(1)
            f.seek(max(size - 64, 0))
            tail = f.read().rstrip()
        return head == b"{" and tail.endswith(b"}")
    except (OSError, ValueError):
        return False


def _answers_on(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _chain_id_at(url: str) -> int | None:
    try:
        reply = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=2.0)
        return int(reply.json()["result"], 16)
    except (httpx.HTTPError, KeyError, TypeError, ValueError):
        return None


class AnvilProcess:
    """Owns one anvil child process; use as a context manager so it stops even on failure.

    With a `pid_file` it is the node's own chain: an orphan an earlier run left is stopped first, a foreign
    process on the port is refused, and `restart_if_dead()` brings the chain back if it dies under us.
    """

    def __init__(self, config: AnvilConfig, *, max_restarts: int = 20, restart_window_s: float = 60.0) -> None:
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None
        self.orphan_stopped: int | None = None  # the PID of an earlier run's anvil this start stopped
        self._max_restarts = max_restarts
        self._restart_window_s = restart_window_s
        self._restarts: collections.deque[float] = collections.deque()
        self.restored_from_copy = False  # the last start found the state file cut short and used the copy
        self._copied_mtime = 0.0

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.config.port}"

    def start(self, timeout_s: float = 20.0) -> "AnvilProcess":
        if not self.config.binary.exists():
            raise ChainUnavailable(f"anvil not found at {self.config.binary}: run the setup (npm install)")
        if self.config.state_file is not None:
            self.config.state_file.parent.mkdir(parents=True, exist_ok=True)
        if self.config.log_file:
            self.config.log_file.parent.mkdir(parents=True, exist_ok=True)
        if self.config.pid_file is not None:
            self.orphan_stopped = self._stop_orphan(self.config.pid_file)
            self._refuse_foreign_chain()
        self.restored_from_copy = self._restore_whole_state()
        out = open(self.config.log_file, "ab") if self.config.log_file else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(self.config.command(), stdout=out, stderr=subprocess.STDOUT)
        finally:
            if self.config.log_file:
                out.close()  # type: ignore[union-attr]
        if self.config.pid_file is not None:
            record = {"pid": self.process.pid, "owner": os.getpid(), "command": self.config.command()}
            partial = self.config.pid_file.with_suffix(".tmp")
            partial.write_text(json.dumps(record))
            partial.replace(self.config.pid_file)
        try:
            wait_for_rpc(self.url, timeout_s, self.process)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM (anvil dumps its state), then SIGKILL if it does not exit in time."""
        process, self.process = self.process, None
        if process is None:
            return
        try:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    os.kill(process.pid, signal.SIGKILL)
                    process.wait(timeout=5)
        finally:
            self._forget(process.pid)

    def restart_if_dead(self) -> int | None:
        """If the chain exited without being asked to, starts it again from its state file and returns the
        dead one's exit status; None while it runs. Too many restarts in the window raise ChainUnavailable."""
        process = self.process
        if process is None or process.poll() is None:
            return None
        now = time.monotonic()
        while self._restarts and now - self._restarts[0] > self._restart_window_s:
            self._restarts.popleft()
        if len(self._restarts) >= self._max_restarts:
            raise ChainUnavailable(
                f"the chain at {self.url} exited {len(self._restarts) + 1} times within "
                f"{self._restart_window_s:.0f}s (last exit status {process.returncode}); see "
                f"{self.config.log_file or 'its output'}"
            )
        self._restarts.append(now)
        self.process = None
        self.start()
        return process.returncode

    @property
    def state_copy(self) -> Path | None:
        state = self.config.state_file
        return None if state is None else state.with_name(state.name + ".whole")

    def keep_state_copy(self, settle_s: float = 1.0) -> bool:
        """Copies the state file aside (temp file, then rename) when anvil has written a new one that is
        whole and has not changed for `settle_s`; returns whether it copied. Called every few seconds by the
        supervision loop."""
        state, copy = self.config.state_file, self.state_copy
        if state is None or copy is None:
            return False
        try:
            mtime = state.stat().st_mtime
        except OSError:
            return False
        if mtime == self._copied_mtime or time.time() - mtime < settle_s or not state_is_whole(state):
            return False
        if state.stat().st_mtime != mtime:
            return False  # written again while it was checked
        partial = copy.with_name(copy.name + ".tmp")
        shutil.copyfile(state, partial)
        partial.replace(copy)
        self._copied_mtime = mtime
        return True

    def _restore_whole_state(self) -> bool:
        """A state file cut short (the chain was killed while saving it) is set aside and the last whole copy
        takes its place: the chain then starts a few blocks further back, and the node re-sends what it lost."""
        state, copy = self.config.state_file, self.state_copy
        if state is None or copy is None or not state.exists() or state_is_whole(state):
            return False
        state.replace(state.with_name(f"{state.name}.cut-{int(time.time())}"))
        if copy.exists() and state_is_whole(copy):
            shutil.copyfile(copy, state)
        return True

    def _forget(self, pid: int) -> None:
        pid_file = self.config.pid_file
        if pid_file is not None:
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                if json.loads(pid_file.read_text())["pid"] == pid:
                    pid_file.unlink()

    def _stop_orphan(self, pid_file: Path) -> int | None:
        """Stops the anvil an earlier run of this node left running (its owner killed), as `stop` would."""
        try:
            record = json.loads(pid_file.read_text())
            pid, owner = int(record["pid"]), int(record["owner"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        args = _command_line(pid) or []
        state = str(self.config.state_file)
        if "--state" not in args or args[args.index("--state") + 1 :][:1] != [state]:
            return None  # gone, or the PID now belongs to another process
        if _parent_of(pid) == owner and _command_line(owner) is not None:
            raise ChainUnavailable(
                f"another sinknode (pid {owner}) is running this node's chain (anvil pid {pid}, state {state}): "
                "stop it first, or give this one its own SINKNODE_HOME"
            )
        os.kill(pid, signal.SIGTERM)  # anvil dumps its state on SIGTERM
        if not _wait_gone(pid, 15.0):
            os.kill(pid, signal.SIGKILL)
            if not _wait_gone(pid, 5.0):
                raise ChainUnavailable(f"the chain an earlier run left running (pid {pid}) does not stop")
        # Its port closes as its last thread ends: wait, or the check for a foreign chain would find it.
        _wait_port_free(self.config.host, self.config.port, 5.0)
        self._forget(pid)
        return pid

    def _refuse_foreign_chain(self) -> None:
        if not _answers_on(self.config.host, self.config.port):
            return
        chain_id = _chain_id_at(self.url)
        what = "another program is listening" if chain_id is None else f"a chain (id {chain_id}) answers JSON-RPC"
        raise ChainUnavailable(
            f"{self.url}: {what} there, and it is not this node's chain. Stop that process, or set "
            f"SINKNODE_ANVIL_PORT to a free port for this node's chain"
            + ("" if chain_id is None else f", or set SINKNODE_RPC_URL={self.url} to use that chain on purpose")
        )

    def wait(self) -> int:
        assert self.process is not None
        return self.process.wait()

    def __enter__(self) -> "AnvilProcess":
        return self.start() if self.process is None else self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def local_chain_config(settings: Settings) -> AnvilConfig:
    """The node's own anvil: loopback, state kept under <home>/chain, log under <home>/logs, PID file beside
    the state. Paths are absolute so that the PID file's command line names the state file wherever a later
    run starts from."""
    return AnvilConfig(
        binary=anvil_binary(settings.project_root),
        host=settings.anvil_host,
        port=settings.anvil_port,
        chain_id=settings.chain_id,
        state_file=settings.chain_state_file.absolute(),
        besu_style=settings.gas_mode == "legacy" and settings.gas_price_wei == 0,
        log_file=settings.logs_dir.absolute() / "anvil.log",
        pid_file=settings.chain_dir.absolute() / "anvil.pid",
    )
