"""Two API worker processes on one data directory: one indexes, the other takes over when it is killed, and
writes through either stay exactly once (the race suite runs against two workers in
tests/api/test_races_two_workers.py)."""

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

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


def _status_over(sock: socket.socket) -> str:
    """The risk mode a worker reports, over a kept-alive connection (HTTP/1.1 by hand)."""
    sock.sendall(b"GET /v1/status HTTP/1.1\r\nHost: node\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.lower().split(b"\r\n")
    length = int(next(line.split(b":")[1] for line in lines if line.startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(65536)
    return json.loads(body)["risk"]["mode"]


def _connected_at_once(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` connections whose handshakes all start before any is accepted (non-blocking connects)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    for sock in sockets:
        sock.setblocking(False)
        sock.connect_ex((host, port))
    deadline = time.monotonic() + 30
    pending = list(sockets)
    while pending and time.monotonic() < deadline:
        _, writable, _ = select.select([], pending, [], 1)
        pending = [sock for sock in pending if sock not in writable]
    assert not pending, "connections not established"
    for sock in sockets:
        sock.setblocking(True)
        sock.settimeout(30)
    return sockets


def test_a_burst_of_keep_alive_connections_is_spread_over_both_workers(pool):
    """Sixty-four connections opened at once, as a load generator opens them: with a listening socket per worker
    the kernel spreads them (all on one worker: a chance of 2 in 2^64). With one shared socket the worker that
    woke first accepted them all in two runs of three."""
    node, _ = pool
    host, port = node.url.removeprefix("http://").split(":")
    # Under load, as wrk found it: with a shared socket the less busy worker took every new connection.
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=node.url, timeout=30) as client:
            while not stop.is_set():
                client.get("/v1/status")

    loaders = [threading.Thread(target=load) for _ in range(6)]
    for thread in loaders:
        thread.start()
    try:
        time.sleep(0.5)
        sockets = _connected_at_once(host, int(port), 64)
    finally:
        stop.set()
        for thread in loaders:
            thread.join(timeout=30)
    try:
        first = [_status_over(sock) for sock in sockets]
        again = [_status_over(sock) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
    assert first == again  # a keep-alive connection stays with its worker
    assert set(first) == {"process", "other_worker"}, first
    # What spreads them: a listening socket per worker on the port (uvicorn's --workers has one, shared).
    assert _listening_sockets(int(port)) == 2


def _listening_sockets(port: int) -> int:
    """How many sockets listen on `port` on this host (IPv4), from the kernel's table."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state = fields[1], fields[3]
        if state == "0A" and int(local.split(":")[1], 16) == port:  # 0A: LISTEN
            count += 1
    return count


def test_a_killed_indexer_is_replaced_within_ten_seconds_and_nothing_is_lost(pool):
    node, workers = pool
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
    # The supervisor started a worker in place of the killed one.
    deadline = time.monotonic() + 30
    while len(workers.worker_pids()) != 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(workers.worker_pids()) == 2 and before not in workers.worker_pids()
    status = node.ok("GET", "/v1/status")
    assert status["index"]["last_block"] >= 1


def test_a_port_another_program_holds_is_refused_once_not_retried_forever():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        done = subprocess.run([sys.executable, "-m", "node.api.workers", "--port", str(port), "--workers", "2"],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
    finally:
        holder.close()
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "Traceback" not in done.stderr
