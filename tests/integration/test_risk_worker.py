"""The risk rules in a process of their own raise exactly the alerts of the engine in the indexer's thread,
and a rule process that fails or dies never lets a range commit without its alerts."""

import functools
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bench.risk import Generator
from node.index.apply import Applier
from node.index.db import connect_writer, open_reader
from node.index.decode import IndexedEvent
from node.index.follower import Indexer
from node.index.queries import dump_index
from node.risk.config import ENGINE_RULES
from node.risk.engine import RiskEngine, Rules
from node.risk.worker import RiskWorker, RiskWorkerError
from node.settings import PROJECT_ROOT
from tests.history import History
from tests.support import process_ended

RANGE = 997  # events per transaction: not a multiple of the worker's batch


@pytest.fixture(scope="module")
def market() -> Generator:
    """A small generated market with three planted cases of every rule (the benchmark's model)."""
    generator = Generator(accounts=500, events=20_000, cases=3, seed=11)
    generator.ordinary()
    generator.plant()
    return generator


def index_events(events: list[IndexedEvent], path: Path, rules: Rules, *, kill_at: int | None = None,
                 ahead: bool = False) -> list[int]:  # fmt: skip
    """Applies the events a range per transaction; at range `kill_at` the rule process is killed first. `ahead`:
    each range goes to the rule process before the previous one commits, as the indexer hands them over.
    Returns the ranges that failed (and were rolled back and applied again)."""
    db = connect_writer(path)
    applier = Applier(db, 31337, "Asia/Shanghai", rules)
    ranges = [events[start : start + RANGE] for start in range(0, len(events), RANGE)]
    digest = "00" * 32
    failed = []
    try:
        for number, range_ in enumerate(ranges):
            following = ranges[number + 1] if ahead and number + 1 < len(ranges) else None
            if number == kill_at:
                assert isinstance(rules, RiskWorker) and rules.pid is not None
                kill(rules.pid)
            db.execute("BEGIN")
            try:
                digest, _ = applier.apply(range_, digest, ahead=following)
            except RiskWorkerError as error:
                assert "gone" in str(error) and kill_at is not None
                failed.append(number)
                db.execute("ROLLBACK")
                rules.warm(db)  # as the indexer does after a rollback: a new process, warmed from the index
                db.execute("BEGIN")
                digest, _ = applier.apply(range_, digest, ahead=following)
            db.execute("COMMIT")
    finally:
        db.close()
    return failed


def alerts(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT * FROM alert ORDER BY key").fetchall()


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    process_ended(pid)


@pytest.mark.parametrize("ahead", [False, True], ids=["range_by_range", "next_range_ahead"])
def test_the_rule_process_raises_the_alerts_of_the_engine_in_the_thread(market, tmp_path, ahead):
    events = market.stream()
    index_events(events, tmp_path / "thread.sqlite", RiskEngine(market.facts))
    worker = RiskWorker(functools.partial(RiskEngine, market.facts))
    try:
        index_events(events, tmp_path / "process.sqlite", worker, ahead=ahead)
    finally:
        worker.close()
    in_thread = alerts(tmp_path / "thread.sqlite")
    assert {row[1] for row in in_thread} == set(ENGINE_RULES), "the market raises every rule, so all are compared"
    assert alerts(tmp_path / "process.sqlite") == in_thread


@pytest.mark.parametrize("ahead", [False, True], ids=["range_by_range", "next_range_ahead"])
def test_a_killed_rule_process_fails_its_range_and_a_new_one_warmed_from_the_index_goes_on(market, tmp_path, ahead):
    events = market.stream()
    index_events(events, tmp_path / "thread.sqlite", RiskEngine(market.facts))
    worker = RiskWorker(functools.partial(RiskEngine, market.facts))
    first = worker.pid
    try:
        kill_at = len(events) // RANGE // 2
        failed = index_events(events, tmp_path / "process.sqlite", worker, kill_at=kill_at, ahead=ahead)
        # A range whose alerts were on their way before the kill commits; the first one without them fails.
        assert failed == [kill_at] if not ahead else failed in ([kill_at], [kill_at + 1])
        assert worker.pid not in (None, first)
    finally:
        worker.close()
    assert alerts(tmp_path / "process.sqlite") == alerts(tmp_path / "thread.sqlite")


def test_a_failing_event_fails_the_range_with_its_traceback_and_a_reset_recovers(tmp_path):
    worker = RiskWorker(RiskEngine)
    try:
        worker.observe("CertificateTransferred", {"batchId": 1, "from": "0x01"}, 1, 0, "0x", 0)  # no "to"
        with pytest.raises(RiskWorkerError, match="KeyError"):
            worker.take()
        with pytest.raises(RiskWorkerError, match="KeyError"):  # its state is unknown until reset
            worker.take()
        worker.reset()
        assert worker.take() == ([], [])
    finally:
        worker.close()


def test_ranges_submitted_ahead_are_answered_in_order_and_a_warm_drops_what_was_not_taken(market, tmp_path):
    """`take` answers the oldest submitted range; replies to ranges submitted before a warm are dropped."""
    events = [(e.name, e.args, e.log.block_number, e.log.log_index, e.log.tx_hash, e.log.block_time)
              for e in market.stream()]  # fmt: skip
    engine = RiskEngine(market.facts)
    expected = []
    for start in range(0, len(events), 5_000):
        for event in events[start : start + 5_000]:
            engine.observe(*event)
        expected.append(engine.take())
    assert sum(len(alerts) for alerts, _ in expected) > 0
    worker = RiskWorker(functools.partial(RiskEngine, market.facts))
    try:
        worker.submit(events[:5_000])
        worker.submit(events[5_000:10_000])
        assert worker.submitted == 2
        assert worker.take() == expected[0]
        assert worker.take() == expected[1]
        assert worker.submitted == 0
        worker.submit(events[10_000:15_000])  # ahead of an index that never applies it
        db = connect_writer(tmp_path / "empty.sqlite")
        try:
            worker.warm(db)
        finally:
            db.close()
        assert worker.submitted == 0
        assert worker.take() == ([], [])  # not the dropped range's alerts
    finally:
        worker.close()


def test_an_engine_that_cannot_be_built_is_an_error_not_a_hang():
    worker = RiskWorker(functools.partial(RiskEngine, None, {"round_trip": {}}))  # a configuration missing rules
    try:
        with pytest.raises(RiskWorkerError, match="gone"):
            worker.take()
    finally:
        worker.close()


def test_a_rule_process_exits_when_its_indexer_is_killed():
    script = (
        "import functools, time\n"
        "from node.risk.engine import RiskEngine\n"
        "from node.risk.worker import RiskWorker\n"
        "worker = RiskWorker(RiskEngine)\n"
        "worker.take()\n"
        "print(worker.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True
    ) as parent:
        try:
            assert parent.stdout is not None
            child = int(parent.stdout.readline())
            parent.kill()
            parent.wait(10)
            assert process_ended(child), "the rule process outlived its indexer"
        finally:
            if parent.poll() is None:
                parent.kill()
                parent.wait(10)


def test_an_indexer_whose_rule_process_is_killed_retries_the_range_and_converges(hnet, tmp_path):
    History(hnet, seed=23).run(150)
    with Indexer(hnet.rpc.url, hnet.manifest, tmp_path / "clean.sqlite", risk=RiskEngine()) as clean:
        clean.sync()
    with open_reader(tmp_path / "clean.sqlite") as db:
        expected = dump_index(connection=db)
    assert expected["alert"], "the history raises alerts, so the comparison covers them"

    worker = RiskWorker(RiskEngine)
    with Indexer(hnet.rpc.url, hnet.manifest, tmp_path / "index.sqlite", max_range=5, risk=worker) as indexer:
        head = hnet.rpc.block_number()
        indexer.sync(until=(hnet.manifest.registry.deploy_block + head) // 2)
        first = worker.pid
        assert first is not None
        kill(first)
        indexer.sync()
        assert worker.pid not in (None, first)
    assert worker.pid is None, "closing the indexer stops its rule process"
    with open_reader(tmp_path / "index.sqlite") as db:
        assert dump_index(connection=db) == expected
