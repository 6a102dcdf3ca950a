"""A local anvil process: started on loopback, waited for, and stopped by PID.

State persists across restarts through anvil's `--state` file (loaded at start, dumped on exit
and every `state_interval_s`), so a SIGTERM'd chain comes back with its blocks and contracts.
"""

import os
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
                "--preserve-historical-states",
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


class AnvilProcess:
    """Owns one anvil child process; use as a context manager so it stops even on failure."""

    def __init__(self, config: AnvilConfig) -> None:
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None

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
        out = open(self.config.log_file, "ab") if self.config.log_file else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(self.config.command(), stdout=out, stderr=subprocess.STDOUT)
        finally:
            if self.config.log_file:
                out.close()  # type: ignore[union-attr]
        try:
            wait_for_rpc(self.url, timeout_s, self.process)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM (anvil dumps its state), then SIGKILL if it does not exit in time."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    def wait(self) -> int:
        assert self.process is not None
        return self.process.wait()

    def __enter__(self) -> "AnvilProcess":
        return self.start() if self.process is None else self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def local_chain_config(settings: Settings) -> AnvilConfig:
    """The node's own anvil: loopback, state kept under <home>/chain, log under <home>/logs."""
    return AnvilConfig(
        binary=anvil_binary(settings.project_root),
        host=settings.anvil_host,
        port=settings.anvil_port,
        chain_id=settings.chain_id,
        state_file=settings.chain_state_file,
        besu_style=settings.gas_mode == "legacy" and settings.gas_price_wei == 0,
        log_file=settings.logs_dir / "anvil.log",
    )
