"""Two API worker processes on one data directory: one indexes, the other takes over when it is killed, and
writes through either stay exactly once (the race suite runs against two workers in
tests/api/test_races_two_workers.py)."""

import os
import signal
import time
from collections.abc import Iterator

import httpx
import pytest
from eth_account import Account

from node.devflows import issued_batch
from node.devnode import LocalNode, WorkerPool, local_node_workers
from node.index.db import IndexerLock
from tests.api.races_support import Call, race, state_rows


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalNode, WorkerPool]]:
    with local_node_workers(tmp_path_factory.mktemp("workers"), workers=2, evidence_key="33" * 32) as handle:
        yield handle


def _indexer_pid(node: LocalNode) -> int:
    url = node.settings.database_url
    text = (IndexerLock.holder(url) if url else (node.settings.home / "indexer.lock").read_text()).split()
    return int(text[0]) if text else 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_exactly_one_worker_indexes_and_both_answer_writes(pool):
    node, workers = pool
    pids = workers.worker_pids()
    assert len(pids) == 2
    assert _indexer_pid(node) in pids
    # Sixteen registrations at once, one connection each: both workers carry some, each answered once indexed.
    accounts = [Account.create().address for _ in range(16)]
    calls = [Call("POST", "/v1/admin/participants", "admin", json={"account": a, "organisation": 90, "roles": 0})
             for a in accounts]  # fmt: skip
    answers = race(node, calls)
    assert [a.status_code for a in answers] == [201] * 16, [a.text for a in answers if a.status_code != 201]
    carriers = {row[0] for row in state_rows(node, "SELECT worker FROM intent WHERE kind = 'register_participant'")}
    assert len(carriers) == 2 and None not in carriers
    project, batch = issued_batch(node)
    assert node.ok("GET", f"/v1/batches/{batch}")["project_id"] == project
    # Each worker says where the risk rules run: in their own process beside the indexing worker, or there;
    # never "off" (which worker a new connection reaches is the kernel's choice).
    modes: set[str] = set()
    for _ in range(40):
        modes.add(httpx.get(f"{node.url}/v1/status", headers={"connection": "close"}).json()["risk"]["mode"])
        if len(modes) == 2:
            break
    assert modes and modes <= {"process", "other_worker"}, modes


def test_a_killed_indexer_is_replaced_within_ten_seconds_and_nothing_is_lost(pool):
    node, _ = pool
    before = _indexer_pid(node)
    os.kill(before, signal.SIGKILL)
    killed_at = time.monotonic()
    while time.monotonic() - killed_at < 10:
        now = _indexer_pid(node)
        if now not in (0, before) and _alive(now):
            break
        time.sleep(0.1)
    took = time.monotonic() - killed_at
    assert _indexer_pid(node) != before, "no worker took over the index"
    assert took < 10
    print(f"indexer taken over in {took:.2f} s")
    # The new indexer follows the chain: a write after the takeover is answered with its indexed effect.
    deadline = time.monotonic() + 60
    while True:
        try:
            project, batch = issued_batch(node)
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)  # the supervisor may still be starting a new worker behind the port
    assert node.ok("GET", f"/v1/batches/{batch}")["project_id"] == project
    status = node.ok("GET", "/v1/status")
    assert status["index"]["last_block"] >= 1
