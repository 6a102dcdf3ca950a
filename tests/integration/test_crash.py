"""kill -9 at random moments of a backfill: every restart resumes with no gap and no duplicate."""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

from node.index.db import open_reader
from node.index.follower import Indexer
from node.index.queries import dump_index, index_digest
from node.risk.engine import RiskEngine
from node.settings import PROJECT_ROOT

BLOCKS = 300
TRANSFERS_PER_BLOCK = 60
KILLS = 20


def indexed_count(path) -> int:
    try:
        with open_reader(path) as db:
            return index_digest(connection=db)[1]
    except sqlite3.OperationalError:  # the schema is still being created
        return 0


def build_history(net) -> None:
    reg, admin = net.registry, net.senders["admin"]
    project = reg.register_project(net.senders["owner"], net.address("owner"), b"\x01" * 32)
    from tests.support import issue, statement

    batch = issue(net, statement(net, project, quantity=10**9))
    ring = [net.address(n) for n in ("owner", "buyer", "buyer2")]
    for name in ("buyer", "buyer2"):
        reg.transfer(net.senders["owner"], batch, net.address(name), 10**6)
    for block in range(BLOCKS):
        if block % 10 == 9:
            reg.send(admin, "churnRetirements", batch, ring, 5)
        else:
            reg.send(admin, "churnTransfers", batch, ring, TRANSFERS_PER_BLOCK, block.to_bytes(32, "big"))


def test_the_index_survives_sigkill_at_twenty_random_moments(hnet, tmp_path):
    build_history(hnet)
    home = tmp_path / "home"
    hnet.manifest.save(home / "deployment.json")
    env = {**os.environ, "SINKNODE_HOME": str(home), "SINKNODE_RPC_URL": hnet.rpc.url,
           "SINKNODE_INDEX_RANGE_BLOCKS": "2"}  # fmt: skip
    command = [sys.executable, "-m", "node.cli", "index", "--once", "--quiet"]

    # The clean index runs the risk rules as `sinknode index` does: its alerts must come out identical.
    clean = Indexer(hnet.rpc.url, hnet.manifest, tmp_path / "clean.sqlite", risk=RiskEngine())
    clean.sync()
    clean.close()
    with open_reader(tmp_path / "clean.sqlite") as db:
        clean_digests = [
            row[0] for row in db.execute("SELECT digest FROM chain_event ORDER BY block_number, log_index")
        ]
        clean_dump = dump_index(connection=db)
    assert clean_dump["alert"], "the history raises alerts, so the comparison covers them"

    # Each run is killed once the index has passed a random point of the backfill, after a random
    # jitter of up to 30 ms, so kills land between and inside the per-range transactions.
    rng = random.Random(20261127)
    targets = sorted(rng.sample(range(1, len(clean_digests)), KILLS))
    index = home / "index.sqlite"
    progress = []
    for target in targets:
        process = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and process.poll() is None:
                if index.exists() and indexed_count(index) >= target:
                    break
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.03))
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        with open_reader(index) as db:
            _, count, digest = index_digest(connection=db)
            stored = db.execute("SELECT COUNT(*), COUNT(DISTINCT tx_hash || ':' || log_index) FROM chain_event")
            rows, distinct = stored.fetchone()
        assert rows == distinct == count, "every event once, and the checkpoint counts them"
        if count:
            assert digest == clean_digests[count - 1], "the partial index is a prefix of the clean one"
        progress.append(count)

    finished = subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    with open_reader(home / "index.sqlite") as db:
        assert dump_index(connection=db) == clean_dump
    assert len([c for c in progress if 0 < c < len(clean_digests)]) >= 5, (
        f"too few kills landed mid-backfill: {progress}"
    )
