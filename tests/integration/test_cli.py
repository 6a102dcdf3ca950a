"""The CLI as a user runs it: a chain that survives restarts, a deployment the node can check."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from node.chain.anvil import free_port, wait_for_rpc
from node.chain.manifest import check_against_chain, load_manifest
from node.chain.rpc import RpcClient
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
    assert "chain_unavailable" in result.stdout


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
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # it and the anvil it started
            process.communicate(timeout=10)
