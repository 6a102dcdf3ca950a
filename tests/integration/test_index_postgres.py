"""The index in PostgreSQL: the same rows and digest as the SQLite index of the same chain, reorgs rolled back
the same way, and one indexer at a time under an advisory lock that passes on when its holder is killed."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from node.chain.sender import NonceManager
from node.index import queries
from node.index.agreement import digest_at, rows_at
from node.index.db import IndexerLock, derivation_version, open_reader
from node.index.follower import Indexer
from node.index.queries import dump_index
from node.risk.engine import RiskEngine
from node.risk.worker import RiskWorker
from node.store.dialect import PgConnection
from tests.history import History


def index_of(net, location, **options) -> Indexer:
    return Indexer(net.rpc.url, net.manifest, location, risk=RiskEngine(), **options)


def dump(location) -> dict:
    connection = open_reader(location)
    try:
        return dump_index(connection=connection)
    finally:
        connection.close()


def sqlite_dump(net, tmp_path: Path) -> dict:
    with index_of(net, tmp_path / "index.sqlite") as indexer:
        indexer.sync()
    return dump(tmp_path / "index.sqlite")


@pytest.fixture
def index_url(postgres) -> str:
    return postgres.create_database("index")


def test_a_postgres_index_holds_exactly_the_rows_of_a_sqlite_index_of_the_same_chain(hnet, tmp_path, index_url):
    History(hnet, seed=7).run(120)
    with index_of(hnet, index_url, max_range=7) as indexer:
        checkpoint = indexer.sync()
        assert derivation_version(indexer.db) > 0
    in_postgres = dump(index_url)
    assert checkpoint.event_count == len(in_postgres["events"]) > 50
    assert in_postgres["alert"], "the history must raise alerts, so that they are compared too"
    assert in_postgres == sqlite_dump(hnet, tmp_path)


def test_a_postgres_index_kept_up_to_date_and_reopened_equals_a_fresh_sqlite_one(hnet, tmp_path, index_url):
    history = History(hnet, seed=11)
    for _ in range(3):
        history.run(20)
        with index_of(hnet, index_url, max_range=3) as indexer:  # a restart between syncs
            indexer.sync()
    assert dump(index_url) == sqlite_dump(hnet, tmp_path)


def test_a_reorg_rolls_a_postgres_index_back_to_the_fork(hnet, tmp_path, index_url):
    history = History(hnet, seed=5)
    history.run(25)
    fork_block, fork = hnet.rpc.block_number(), hnet.rpc.call("evm_snapshot")
    history.fork(1005).advance_to(fork_block + 5)
    with index_of(hnet, index_url, max_range=4) as indexer:
        indexer.sync()
        assert hnet.rpc.call("evm_revert", fork) is True
        NonceManager.forget(hnet.rpc.url)
        hnet.registry.send(hnet.senders["issuer"], "registerProject", hnet.address("buffer"), b"\x98" * 32)
        history.fork(2005).advance_to(fork_block + 7)
        indexer.sync()
        assert indexer.reorgs >= 1
    assert dump(index_url) == sqlite_dump(hnet, tmp_path)


def test_a_postgres_index_reader_cannot_write(hnet, index_url):
    with index_of(hnet, index_url) as indexer:
        indexer.sync()
    reader = open_reader(index_url)
    try:
        with pytest.raises(Exception, match="read-only"):
            reader.execute("DELETE FROM chain_event")
    finally:
        reader.close()


_HOLD_THE_LOCK = """
import sys, time
from node.index.db import IndexerLock
lock = IndexerLock.acquired(sys.argv[1])
print("held", flush=True)
time.sleep(120)
"""


def test_a_second_indexer_waits_for_the_lock_and_takes_it_when_the_first_is_killed(index_url):
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_THE_LOCK, index_url], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).parents[2])  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert IndexerLock.held_elsewhere(index_url)
        with pytest.raises(Exception, match="lock timeout"):
            IndexerLock.acquired(index_url, timeout_s=0.5)
        os.kill(holder.pid, signal.SIGKILL)
        began = time.monotonic()
        lock = IndexerLock.acquired(index_url, timeout_s=10)
        took = time.monotonic() - began
        assert took < 10
        assert IndexerLock.held_elsewhere(index_url)
        lock.close()
        assert not IndexerLock.held_elsewhere(index_url)
    finally:
        holder.kill()
        holder.communicate(timeout=10)  # reaps it and closes its pipe


def test_the_index_schema_keeps_sixty_four_bit_integers_and_booleans_as_numbers(index_url, hnet):
    with index_of(hnet, index_url) as indexer:
        indexer.sync()
    db = PgConnection(index_url)
    try:
        kinds = dict(
            db.execute(
                "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = 'sink_index'"
            ).fetchall()
        )
    finally:
        db.close()
    assert kinds["batch.id"] == kinds["balance.amount"] == kinds["chain_event.id"] == "bigint"
    assert kinds["participant.frozen"] == kinds["ledger_settings.paused"] == "bigint"


def test_a_postgres_index_and_a_sqlite_one_give_the_same_agreement_digests_now_and_at_an_earlier_block(
    hnet, tmp_path, index_url
):
    History(hnet, seed=23).run(60)
    with index_of(hnet, index_url, max_range=5) as indexer:
        head = indexer.sync().last_block
    sqlite_dump(hnet, tmp_path)
    for block in (head, head - 10):
        in_postgres = digest_at(index_url, block, "Asia/Shanghai")
        assert in_postgres == digest_at(tmp_path / "index.sqlite", block, "Asia/Shanghai")
        assert in_postgres["events"] > 0
    assert rows_at(index_url, head, "Asia/Shanghai", "balance") == rows_at(
        tmp_path / "index.sqlite", head, "Asia/Shanghai", "balance"
    )


def test_the_rule_process_warms_from_a_postgres_index_and_raises_the_alerts_of_a_sqlite_one(hnet, tmp_path, index_url):
    history = History(hnet, seed=29)
    history.run(40)
    with Indexer(hnet.rpc.url, hnet.manifest, index_url, max_range=5, risk=RiskWorker(RiskEngine)) as indexer:
        indexer.sync()
    history.run(40)
    # Reopened: the rule process warms its windows from what the PostgreSQL index holds, then goes on.
    with Indexer(hnet.rpc.url, hnet.manifest, index_url, max_range=5, risk=RiskWorker(RiskEngine)) as indexer:
        indexer.sync()
    assert dump(index_url) == sqlite_dump(hnet, tmp_path)


def test_the_query_module_answers_the_same_from_a_postgres_index_as_from_a_sqlite_one(hnet, tmp_path, index_url):
    History(hnet, seed=31).run(80)
    with index_of(hnet, index_url, max_range=9) as indexer:
        indexer.sync()
    sqlite_dump(hnet, tmp_path)
    in_postgres, in_sqlite = open_reader(index_url), open_reader(tmp_path / "index.sqlite")
    try:
        answers = []
        for db in (in_postgres, in_sqlite):
            batches = queries.list_batches(connection=db)
            vintages = sorted({queries.summary(connection=db, group_by="vintage")[0]["key"]})
            answers.append({
                "batches": batches,
                "by_vintage": [queries.list_batches(connection=db, vintage=v) for v in vintages],
                "summaries": [queries.summary(connection=db, group_by=g, since_day="2000-01-01", until_day="2100-01-01")
                              for g in ("project", "vintage", "issuer", "holder")],
                "totals": queries.registry_totals(connection=db),
                "retirements": queries.list_retirements(connection=db),
                "projects": queries.list_projects(connection=db),
            })  # fmt: skip
    finally:
        in_postgres.close()
        in_sqlite.close()
    assert answers[0]["batches"] and answers[0]["by_vintage"][0]
    assert answers[0] == answers[1]


def test_the_reader_pool_lends_one_connection_again_and_drops_what_comes_back_unusable(index_url):
    from node.index.db import ReaderPool, create_postgres_schema

    create_postgres_schema(index_url)
    pool = ReaderPool(index_url, size=2)
    try:
        first = pool.take()
        backend = first.execute("SELECT pg_backend_pid()").fetchone()[0]
        first.close()
        again = pool.take()
        assert again.execute("SELECT pg_backend_pid()").fetchone()[0] == backend  # no new handshake
        with pytest.raises(Exception, match="read-only"):
            again.execute("CREATE TABLE nope (id BIGINT)")  # still read-only after its first loan
        again.execute("BEGIN")
        again.execute("SELECT 1")
        again.close()  # inside a transaction: rolled back, then kept
        kept = pool.take()
        assert not kept.in_transaction
        assert kept.execute("SELECT pg_backend_pid()").fetchone()[0] == backend
        kept._db.close()  # as if the server had gone away
        kept.close()  # not usable: dropped, not kept
        fresh = pool.take()
        assert fresh.execute("SELECT pg_backend_pid()").fetchone()[0] != backend
        extra = [pool.take() for _ in range(3)]
        fresh.close()
        for connection in extra:
            connection.close()  # the pool keeps two idle; the rest are closed
        assert len(pool._idle) == 2
        closed = [c for c in extra if c._db.closed]
        assert len(closed) == 2
    finally:
        pool.close()
    assert pool._idle == []
