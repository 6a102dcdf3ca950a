"""The CLI as a user runs it: a chain that survives restarts, a deployment the node can check."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from node.chain.anvil import AnvilConfig, AnvilProcess, anvil_binary, free_port, wait_for_rpc
from node.chain.manifest import check_against_chain, load_manifest
from node.chain.rpc import RpcClient
from node.errors import ChainUnavailable
from node.settings import PROJECT_ROOT
from tests.support import process_ended

SINKNODE = [sys.executable, "-m", "node.cli"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "SINKNODE_HOME": str(tmp_path / "home"),
        "SINKNODE_ANVIL_PORT": str(free_port()),
        "SINKNODE_KEYSTORE_SCRYPT_N": "1024",
        "SINKNODE_BUILD_CACHE_DIR": str(PROJECT_ROOT / "build" / "test-home" / "build"),
    }


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SINKNODE, *args], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180)


class Chain:
    """`sinknode chain up` as a child process, always stopped by PID."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.url = f"http://127.0.0.1:{env['SINKNODE_ANVIL_PORT']}"
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        # A session of its own: if the test must kill it, the anvil it started goes with it.
        self.process = subprocess.Popen(
            [*SINKNODE, "chain", "up"],
            env=self.env,
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        wait_for_rpc(self.url, timeout_s=30)

    def stop(self) -> str:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        output, _ = self.process.communicate(timeout=30)
        assert self.process.returncode == 0, output
        self.process = None
        return output

    def kill(self) -> None:
        """Stops it as Ctrl-C would; then, if it hangs, kills its whole session (it and its anvil)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.communicate(timeout=10)  # reaps it and closes its pipe


@pytest.fixture
def chain(env: dict[str, str]) -> Iterator[Chain]:
    handle = Chain(env)
    try:
        yield handle
    finally:
        handle.kill()


def test_chain_state_and_deployment_survive_a_restart(env, chain):
    chain.start()
    deployed = run(env, "deploy")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert "deployed at" in deployed.stdout
    manifest = load_manifest(Path(env["SINKNODE_HOME"]) / "deployment.json")
    with RpcClient(chain.url) as rpc:
        blocks = rpc.block_number()
    assert "state is saved" in chain.stop()

    chain.start()
    with RpcClient(chain.url) as rpc:
        assert rpc.block_number() == blocks
        check_against_chain(manifest, rpc)
    again = run(env, "deploy")
    assert again.returncode == 0 and "already deployed" in again.stdout
    verified = run(env, "verify")
    assert verified.returncode == 0 and "is the code built from contracts/" in verified.stdout
    chain.stop()


def test_the_manifest_records_what_the_node_needs(env, chain):
    chain.start()
    assert run(env, "deploy").returncode == 0
    data = json.loads((Path(env["SINKNODE_HOME"]) / "deployment.json").read_text())
    assert data["chain_id"] == 31337
    registry = data["contracts"]["SinkRegistry"]
    assert {"address", "deploy_block", "deploy_tx", "abi_sha256", "runtime_sha256", "abi"} <= registry.keys()
    assert data["compiler"]["version"].startswith("0.8.30")
    keys = run(env, "keys", "list").stdout
    assert data["admin"] in keys and data["buffer_account"] in keys


def test_deploy_without_a_chain_fails_with_a_named_error(env):
    result = run(env, "deploy")
    assert result.returncode == 1
    assert "chain_unavailable" in result.stderr and "Traceback" not in result.stdout + result.stderr


def test_config_masks_secrets(env):
    result = run({**env, "SINKNODE_KEYSTORE_PASSWORD": "hunter2-secret"}, "config")
    assert result.returncode == 0
    assert "hunter2-secret" not in result.stdout
    assert json.loads(result.stdout)["keystore_password"] == "********"


def children(pid: int) -> list[int]:
    """The processes `pid` started that are still its children (anvil, the risk rules)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def test_up_runs_chain_deployment_api_and_demo_until_stopped(env):
    """The README's run command: one link to open, a provenance page behind it, and a clean stop."""
    env = {**env, "SINKNODE_API_PORT": str(free_port())}
    base = f"http://127.0.0.1:{env['SINKNODE_API_PORT']}"
    process = subprocess.Popen([*SINKNODE, "up"], env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        tokens = Path(env["SINKNODE_HOME"]) / "demo-tokens.json"
        while time.monotonic() < deadline and process.poll() is None and not tokens.exists():
            time.sleep(0.2)
        assert tokens.exists(), "the demo was loaded"
        status = httpx.get(f"{base}/v1/status", timeout=10).json()
        assert status["index"]["events"] > 10
        assert status["risk"] == {"mode": "process", "running": True}
        helpers = children(process.pid)
        assert helpers, "the risk rules run in a child process"
        retirements = httpx.get(f"{base}/v1/registry/retirements", timeout=10).json()
        # A named retirement, the checkout offset and the subscription campaign, each one retirement.
        assert len(retirements) == 3 and retirements[0]["beneficiary"].startswith("杭州快递有限公司")
        assert retirements[1]["beneficiary"] == "" and retirements[1]["beneficiary_hash"] != "0x" + "00" * 32
        offset = httpx.get(f"{base}/v1/offsets/orders/ORD-20261127-0001", timeout=10).json()
        assert offset["root"] == retirements[1]["beneficiary_hash"]
        campaign = httpx.get(f"{base}/v1/campaigns/1", timeout=10).json()
        assert campaign["state"] == "retired" and campaign["root"] == retirements[2]["beneficiary_hash"]
        listing = httpx.get(f"{base}/v1/listings/1", timeout=10).json()
        assert listing["status"] == "open" and listing["project"]["id"] == retirements[0]["batch_id"] >> 32
        page = httpx.get(f"{base}/batches/{retirements[0]['batch_id']}", params={"lang": "en"}, timeout=10)
        assert page.status_code == 200 and "Re-checked against the chain" in page.text
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
        assert process.returncode == 0, output
        assert f"{base}/batches/" in output and f"{base}/retirements/" in output
        assert all(process_ended(pid) for pid in helpers), "a clean stop ends the processes it started"

        # The next `up` resumes with all data and does not load the demo twice.
        process = subprocess.Popen([*SINKNODE, "up"], env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 60
        resumed = None
        while time.monotonic() < deadline and process.poll() is None and resumed is None:
            try:
                resumed = httpx.get(f"{base}/v1/status", timeout=2).json()
            except httpx.HTTPError:
                time.sleep(0.2)
        assert resumed is not None and resumed["index"] == status["index"]
        assert len(httpx.get(f"{base}/v1/registry/retirements", timeout=10).json()) == 3
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
        assert process.returncode == 0 and "demo loaded" not in output, output
        assert f"{base}/batches/" in output and f"{base}/" in output, "every start prints the links to open"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # it and the anvil it started
            process.communicate(timeout=10)


class Up:
    """`sinknode up --no-demo` as a child process in a session of its own (so the anvil and rule process it
    starts share its process group, even once it is killed), always stopped by PID."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = {**env, "SINKNODE_API_PORT": env.get("SINKNODE_API_PORT") or str(free_port())}
        self.base = f"http://127.0.0.1:{self.env['SINKNODE_API_PORT']}"
        self.chain_url = f"http://127.0.0.1:{env['SINKNODE_ANVIL_PORT']}"
        self.pid_file = Path(env["SINKNODE_HOME"]) / "chain" / "anvil.pid"
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> dict:
        """Starts it and waits for the API's status (the chain, the deployment and the index are up)."""
        self.process = subprocess.Popen([*SINKNODE, "up", "--no-demo"], env=self.env, cwd=PROJECT_ROOT,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                return httpx.get(f"{self.base}/v1/status", timeout=2).raise_for_status().json()
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError(f"`up` did not answer: {self.process.poll()} {self.output()}")

    def anvil_pid(self) -> int:
        return int(json.loads(self.pid_file.read_text())["pid"])

    def stop(self) -> str:
        """As Ctrl-C would: the exit must be clean."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        output, _ = self.process.communicate(timeout=60)
        assert self.process.returncode == 0, output
        return output

    def output(self) -> str:
        assert self.process is not None
        if self.process.poll() is None:
            return ""
        return self.process.communicate(timeout=10)[0]

    def kill(self) -> None:
        """Kills what is left of its process group (it, or the orphans it left), then reaps it."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.communicate(timeout=10)


@pytest.fixture
def ups(env: dict[str, str]) -> Iterator[Callable[[], Up]]:
    started: list[Up] = []

    def new() -> Up:
        started.append(Up(env))
        return started[-1]

    try:
        yield new
    finally:
        for handle in started:
            handle.kill()


def test_ctrl_c_at_any_moment_of_the_start_prints_no_traceback(env):
    env = {**env, "SINKNODE_API_PORT": str(free_port())}
    for delay in (0.2, 1.0, 2.5, 6.0):
        process = subprocess.Popen([*SINKNODE, "up", "--no-demo"], env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
        try:
            time.sleep(delay)
            os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C: to the whole process group
            output, _ = process.communicate(timeout=60)
            assert "Traceback" not in output, (delay, output)
            assert process.returncode in (0, 130, -signal.SIGINT), (delay, process.returncode, output)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate(timeout=10)


def test_up_refuses_a_chain_on_its_port_that_is_not_its_own(env, ups):
    foreign = AnvilProcess(AnvilConfig(binary=anvil_binary(PROJECT_ROOT), port=int(env["SINKNODE_ANVIL_PORT"])))
    with foreign:
        # Even a PID file naming that process does not make it this node's chain: it does not run its state.
        pid_file = Path(env["SINKNODE_HOME"]) / "chain" / "anvil.pid"
        pid_file.parent.mkdir(parents=True)
        assert foreign.process is not None
        pid_file.write_text(json.dumps({"pid": foreign.process.pid, "owner": 1, "command": []}))
        with RpcClient(foreign.url) as rpc:
            rpc.call("evm_mine")
            blocks = rpc.block_number()

        result = run({**env, "SINKNODE_API_PORT": str(free_port())}, "up", "--no-demo")
        assert result.returncode == 1, result.stdout + result.stderr
        assert "chain_unavailable" in result.stderr and "not this node's chain" in result.stderr
        assert "SINKNODE_ANVIL_PORT" in result.stderr and f"SINKNODE_RPC_URL={foreign.url}" in result.stderr
        assert "Traceback" not in result.stdout + result.stderr
        assert foreign.process.poll() is None, "the other chain is left alone"
        with RpcClient(foreign.url) as rpc:
            assert rpc.block_number() == blocks


def test_a_second_up_stops_the_chain_a_killed_up_left_running_and_resumes_it(env, ups):
    first = ups()
    first.start()
    orphan = first.anvil_pid()
    assert orphan in children(first.process.pid)
    manifest = load_manifest(Path(env["SINKNODE_HOME"]) / "deployment.json")
    with RpcClient(first.chain_url) as rpc:
        rpc.call("evm_mine")  # a block after the deployment, likely not yet in the state file
        blocks = rpc.block_number()
    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait(timeout=10)
    assert not process_ended(orphan, timeout_s=0.5), "the killed node's chain runs on, orphaned"

    second = ups()
    status = second.start()
    assert process_ended(orphan, timeout_s=1), "the orphan was stopped"
    assert second.anvil_pid() != orphan and second.anvil_pid() in children(second.process.pid)
    with RpcClient(second.chain_url) as rpc:
        assert rpc.block_number() == blocks, "stopped with SIGTERM, it saved every block"
        check_against_chain(manifest, rpc)
    assert status["index"]["events"] > 0
    output = second.stop()
    assert f"stopped the chain an earlier run left running (pid {orphan})" in output
    assert not second.pid_file.exists(), "a clean stop forgets the chain's PID"


def test_up_restarts_its_chain_when_the_chain_is_killed(env, ups):
    node = ups()
    node.start()
    manifest = load_manifest(Path(env["SINKNODE_HOME"]) / "deployment.json")
    state = Path(env["SINKNODE_HOME"]) / "chain" / "state.json"
    deployed = time.time()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not (state.exists() and state.stat().st_mtime > deployed):
        time.sleep(0.2)  # anvil dumps its state every 5 s: wait for a dump that holds the deployment
    assert state.exists() and state.stat().st_mtime > deployed
    anvil = node.anvil_pid()

    os.kill(anvil, signal.SIGKILL)
    killed = time.monotonic()
    assert process_ended(anvil, timeout_s=5)
    wait_for_rpc(node.chain_url, timeout_s=5)
    assert time.monotonic() - killed < 5
    assert node.anvil_pid() != anvil and node.anvil_pid() in children(node.process.pid)
    with RpcClient(node.chain_url) as rpc:
        check_against_chain(manifest, rpc)
    assert httpx.get(f"{node.base}/healthz", timeout=5).status_code == 200, "the API kept running"
    assert httpx.get(f"{node.base}/v1/status", timeout=5).status_code == 200
    output = node.stop()
    assert "the chain exited unexpectedly (status -9); restarted it" in output


def test_a_chain_that_keeps_dying_is_restarted_a_bounded_number_of_times(tmp_path):
    config = AnvilConfig(
        binary=anvil_binary(PROJECT_ROOT),
        port=free_port(),
        state_file=tmp_path / "chain" / "state.json",
        pid_file=tmp_path / "chain" / "anvil.pid",
    )
    with AnvilProcess(config, max_restarts=2, restart_window_s=60) as anvil:
        assert anvil.restart_if_dead() is None
        for _ in range(2):
            assert anvil.process is not None
            anvil.process.kill()
            anvil.process.wait(timeout=10)
            assert anvil.restart_if_dead() == -signal.SIGKILL
            wait_for_rpc(anvil.url, timeout_s=5)
        assert anvil.process is not None
        anvil.process.kill()
        anvil.process.wait(timeout=10)
        with pytest.raises(ChainUnavailable, match="exited 3 times within 60s"):
            anvil.restart_if_dead()
    assert not config.pid_file.exists()
