"""Several organisations' nodes on one chain: do their indexes agree, how fast does a killed one catch up,
and how many reads do one and two API workers serve.

    python -m bench.consortium [--quick]

1. A chain of ≥ 100,000 certificate events (bench.index's harness chain).
2. Four organisation nodes, each with its own home, index them (`sinknode index --once`, a process each);
   two keep their store and index in PostgreSQL (a throwaway cluster, a database each), two in SQLite.
   Their index digests and derived-table digests at the head are compared (node.index.agreement).
3. One node's indexer (`sinknode index`, following) is killed with SIGKILL after a second, then run again:
   the time it takes from that restart to the head.
4. The same chain indexed once more in this process against the fetch-and-decode ceiling (bench.index), into
   SQLite and into PostgreSQL (the events/s figures).
5. `sinknode serve` with its store and index in PostgreSQL, with 1 and then 2 API workers, under wrk (Debian's
   package): 64 connections for 10 s, alternating a batch page and the batch's provenance JSON; after a
   warm-up run, the best of three.

Prints `BENCH consortium nodes= digests_equal= catch_up_s= sqlite_events_per_s= sqlite_ceiling_ratio=
postgres_events_per_s= reads_per_s_1_worker= reads_per_s_2_workers=`.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.index import build_chain, ceiling
from node.chain.anvil import AnvilConfig, AnvilProcess, anvil_binary, free_port
from node.chain.build import compile_contracts
from node.chain.devnet import start_devnet
from node.chain.manifest import DeploymentManifest
from node.chain.rpc import RpcClient
from node.devnode import stop_process_tree, wait_serving
from node.devpg import postgres_cluster
from node.index.agreement import digest_at
from node.index.db import IndexLocation
from node.index.follower import Indexer
from node.settings import load_settings

NODES = 4
WRK_SECONDS = 10
WRK_CONNECTIONS = 64
WRK_ROUNDS = 3
_LUA = """
counter = 0
request = function()
  counter = counter + 1
  if counter % 2 == 0 then
    return wrk.format("GET", "/batches/{batch}?lang=en")
  end
  return wrk.format("GET", "/v1/batches/{batch}/provenance?limit=50")
end
"""


def _env(home: Path, rpc_url: str, chain_id: int, **extra: str) -> dict[str, str]:
    return {**os.environ, "SINKNODE_HOME": str(home), "SINKNODE_RPC_URL": rpc_url, "SINKNODE_CHAIN_ID": str(chain_id),
            "SINKNODE_RISK_ENABLED": "false", "SINKNODE_KEYSTORE_SCRYPT_N": "1024",
            "SINKNODE_RATE_LIMIT_READS": "", "SINKNODE_LISTING_REVIEW": "false", **extra}  # fmt: skip


def _sinknode(*args: str) -> list[str]:
    return [sys.executable, "-m", "node.cli", *args]


def _wrk(url: str, script: Path) -> float:
    done = subprocess.run(["wrk", "-t2", f"-c{WRK_CONNECTIONS}", f"-d{WRK_SECONDS}s", "-s", str(script), url],
                          capture_output=True, text=True, timeout=WRK_SECONDS + 60, check=True)  # fmt: skip
    found = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    if found is None or errors is not None:
        raise RuntimeError(f"wrk: {done.stdout[-800:]}")
    return float(found.group(1))


def _serve_and_load(home: Path, env: dict[str, str], workers: int, batch: int, tmp: Path) -> float:
    port = free_port()
    run_env = {**env, "SINKNODE_API_PORT": str(port), "SINKNODE_API_WORKERS": str(workers)}
    log_path = tmp / f"serve{workers}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(_sinknode("serve"), env=run_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_serving(process, lambda: httpx.get(f"{url}/v1/batches/{batch}", timeout=5).status_code == 200, log_path,
                     "serve", timeout_s=120, pause_s=0.2)  # fmt: skip
        script = tmp / "reads.lua"
        script.write_text(_LUA.replace("{batch}", str(batch)))
        _wrk(url, script)  # warm: caches, connections, the first pages
        # wrk's keep-alive connections are spread over the workers once per run, by the kernel's hash over
        # their listening sockets (node.api.workers): a run can still load one worker more. Best of three.
        return max(_wrk(url, script) for _ in range(WRK_ROUNDS))
    finally:
        stop_process_tree(process)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 events instead of 100,000")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    target = 20_000 if args.quick else 100_000
    settings = load_settings()
    build = compile_contracts(settings)
    config = AnvilConfig(binary=anvil_binary(settings.project_root), port=free_port(),
                         extra_args=["--gas-limit", "60000000"])  # fmt: skip
    with AnvilProcess(config) as anvil, postgres_cluster() as pg, tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        rpc = RpcClient(anvil.url)
        net = start_devnet(rpc, build, contract="SinkRegistryHarness")
        began = time.perf_counter()
        batch = build_chain_with_batch(net, target)
        print(f"chain built in {time.perf_counter() - began:.1f}s", file=sys.stderr)
        head = rpc.block_number()
        chain_id = net.manifest.chain_id

        # 2. four nodes, one process each
        homes, envs, indexes = [], [], []
        for number in range(1, NODES + 1):
            home = tmp / f"org{number}"
            home.mkdir()
            net.manifest.save(home / "deployment.json")
            url = pg.create_database(f"org{number}") if number > 2 else None
            homes.append(home)
            indexes.append(url or home / "index.sqlite")
            extra = {"SINKNODE_DATABASE_URL": url} if url else {}
            envs.append(_env(home, anvil.url, chain_id, SINKNODE_ORGANISATION=str(number), **extra))
        began = time.perf_counter()
        processes = [subprocess.Popen(_sinknode("index", "--once", "--quiet"), env=env) for env in envs]
        for process in processes:
            if process.wait(timeout=1800) != 0:
                sys.exit("a node failed to index")
        print(f"{NODES} nodes indexed in {time.perf_counter() - began:.1f}s (side by side)", file=sys.stderr)
        digests = [digest_at(index, head, "Asia/Shanghai") for index in indexes]
        digests_equal = all(d == digests[0] for d in digests) and digests[0]["events"] >= target

        # 3. a killed node catching up
        shutil.rmtree(homes[0] / "index.sqlite", ignore_errors=True)
        for suffix in ("", "-wal", "-shm"):
            (homes[0] / f"index.sqlite{suffix}").unlink(missing_ok=True)
        follower = subprocess.Popen(_sinknode("index", "--quiet"), env=envs[0])
        time.sleep(1.0)
        os.kill(follower.pid, signal.SIGKILL)
        follower.wait(timeout=30)
        began = time.perf_counter()
        subprocess.run(_sinknode("index", "--once", "--quiet"), env=envs[0], check=True, timeout=1800)
        catch_up_s = time.perf_counter() - began
        caught = digest_at(homes[0] / "index.sqlite", head, "Asia/Shanghai")
        digests_equal = digests_equal and caught == digests[1]

        # 4. the index against its ceiling, in this process, in SQLite and in PostgreSQL: three pairs (the ceiling,
        # then the SQLite index), the pair with the median ratio reported (the machine's speed drifts)
        pairs = []
        for round_ in range(3):
            count, seconds = ceiling(net, net.manifest.registry.deploy_block, head)
            sqlite_rate = _index_rate(anvil.url, net.manifest, tmp / f"bench{round_}.sqlite")
            pairs.append((sqlite_rate * seconds / count, sqlite_rate))
        sqlite_ratio, rate = sorted(pairs)[1]
        postgres_index = pg.create_database("index")
        postgres_rate = _index_rate(anvil.url, net.manifest, postgres_index)
        digests_equal = digests_equal and digest_at(postgres_index, head, "Asia/Shanghai") == digests[1]

        # 5. reads with 1 and 2 API workers, the store and the index in PostgreSQL (the index from step 2)
        reads = {workers: _serve_and_load(homes[2], envs[2], workers, batch, tmp) for workers in (1, 2)}
        rpc.close()
    print(
        f"BENCH consortium nodes={NODES} digests_equal={str(digests_equal).lower()} catch_up_s={catch_up_s:.1f}"
        f" sqlite_events_per_s={rate:.0f} sqlite_ceiling_ratio={sqlite_ratio:.2f}"
        f" postgres_events_per_s={postgres_rate:.0f}"
        f" reads_per_s_1_worker={reads[1]:.0f} reads_per_s_2_workers={reads[2]:.0f}"
        f" two_worker_ratio={reads[2] / reads[1]:.2f}"
    )


def _index_rate(rpc_url: str, manifest: DeploymentManifest, location: IndexLocation) -> float:
    indexer = Indexer(rpc_url, manifest, location)
    try:
        began = time.perf_counter()
        checkpoint = indexer.sync()
        return checkpoint.event_count / (time.perf_counter() - began)
    finally:
        indexer.close()


def build_chain_with_batch(net: object, target: int) -> int:
    """bench.index's chain; returns the id of the batch it churns (the first one issued)."""
    build_chain(net, target)  # type: ignore[arg-type]
    return (1 << 32) | 1


if __name__ == "__main__":
    main()
