"""The index mirrors the chain: derived state equals contract state, and reorgs roll back exactly."""

import sqlite3
from pathlib import Path

import pytest

from node.chain.sender import NonceManager
from node.index.db import DERIVATION_VERSION, derivation_version, open_reader
from node.index.follower import Indexer
from node.index.queries import balances, buffer_share_of, dump_index
from node.risk.engine import RiskEngine
from tests.history import HOLDERS, History


def index_of(net, path: Path, **options) -> Indexer:
    # Every index here runs the risk rules, so each comparison of two indexes compares their alerts too.
    return Indexer(net.rpc.url, net.manifest, path, risk=RiskEngine(), **options)


def fresh_dump(net, tmp_path: Path, name: str = "fresh.sqlite") -> dict:
    with index_of(net, tmp_path / name) as indexer:
        indexer.sync()
    with open_reader(tmp_path / name) as connection:
        return dump_index(connection=connection)


def dump(path: Path) -> dict:
    with open_reader(path) as connection:
        return dump_index(connection=connection)


def test_derived_state_equals_the_contracts_after_a_random_history(hnet, tmp_path):
    history = History(hnet, seed=7)
    history.run(120)
    with index_of(hnet, tmp_path / "index.sqlite", max_range=7) as indexer:
        indexer.sync()
    reg = hnet.registry
    with open_reader(tmp_path / "index.sqlite") as db:
        indexed = balances(connection=db)
        accounts = [hnet.address(n) for n in (*HOLDERS, "buffer")]
        for batch in history.batches:
            for account in accounts:
                assert indexed.get((batch, account), 0) == reg.balance_of(account, batch)
            status, retired, reversed_, quantity = db.execute(
                "SELECT status, retired, reversed, quantity FROM batch WHERE id = ?", (batch,)
            ).fetchone()
            assert status == reg.batch_status(batch)
            held = sum(reg.balance_of(a, batch) for a in accounts)
            assert quantity == held + retired + reversed_
        for name in hnet.accounts:
            row = db.execute("SELECT roles, frozen, organisation FROM participant WHERE address = ?",
                             (hnet.address(name),)).fetchone()  # fmt: skip
            on_chain = reg.participant(hnet.address(name))
            assert row == (on_chain.roles, on_chain.frozen, on_chain.organisation)
        for project in history.projects:
            status, batch_count, share = db.execute(
                "SELECT status, batch_count, buffer_share_bps FROM project WHERE id = ?", (project,)
            ).fetchone()
            on_chain = reg.project(project)
            assert (status, batch_count, share) == (on_chain.status, on_chain.batch_count, on_chain.buffer_share_bps)
            assert buffer_share_of(connection=db, project_id=project) == reg.buffer_share_of(project)
        assert db.execute("SELECT COUNT(*) FROM chain_event WHERE name = 'ProjectBufferShareSet'").fetchone()[0] > 0
        # Each batch keeps the share in force at its issuance, and its buffer amount is that share rounded up.
        for quantity, buffer_amount, share in db.execute("SELECT quantity, buffer_amount, buffer_share_bps FROM batch"):
            assert buffer_amount == -(-quantity * share // 10_000)
        assert db.execute("SELECT COUNT(*) FROM retirement").fetchone()[0] == reg.value("retirementCount")


def test_an_index_kept_up_to_date_equals_a_fresh_reindex(hnet, tmp_path):
    history = History(hnet, seed=11)
    live = index_of(hnet, tmp_path / "live.sqlite", max_range=3)
    for _ in range(6):
        history.run(15)
        live.sync()
    live.close()
    assert dump(tmp_path / "live.sqlite") == fresh_dump(hnet, tmp_path)


def test_confirmations_keep_the_index_behind_the_head(hnet, tmp_path):
    History(hnet, seed=3).run(10)
    with index_of(hnet, tmp_path / "index.sqlite", confirmations=4) as indexer:
        checkpoint = indexer.sync()
    assert checkpoint.last_block == hnet.rpc.block_number() - 4


@pytest.mark.parametrize(("depth", "replacement"), [(1, 1), (5, 7), (64, 64)])
def test_a_reorg_rolls_back_to_the_fork_and_matches_a_clean_reindex(hnet, tmp_path, depth, replacement):
    """Blocks that held events are replaced by others (as deep, or longer); the index follows the new chain."""
    history = History(hnet, seed=depth)
    history.run(25)
    fork_block, fork = hnet.rpc.block_number(), hnet.rpc.call("evm_snapshot")
    history.fork(1000 + depth).advance_to(fork_block + depth)
    indexer = index_of(hnet, tmp_path / "index.sqlite", max_range=4)
    assert indexer.sync().last_block == fork_block + depth
    with open_reader(tmp_path / "index.sqlite") as db:
        replaced = db.execute("SELECT COUNT(*) FROM chain_event WHERE block_number > ?", (fork_block,)).fetchone()[0]
    assert replaced > 0, "the blocks to be replaced must hold events"

    assert hnet.rpc.call("evm_revert", fork) is True
    NonceManager.forget(hnet.rpc.url)
    # A transaction the old branch never had makes sure the new blocks differ from the old ones.
    hnet.registry.send(hnet.senders["issuer"], "registerProject", hnet.address("buffer"), b"\x99" * 32)
    history.fork(2000 + depth).advance_to(fork_block + replacement)
    after = indexer.sync()
    indexer.close()
    assert indexer.reorgs >= 1
    assert after.last_block == hnet.rpc.block_number()
    assert dump(tmp_path / "index.sqlite") == fresh_dump(hnet, tmp_path)


def test_an_index_written_before_the_buffer_share_columns_is_upgraded_and_rederived(hnet, tmp_path):
    """An index of the first schema (no buffer_share_bps in project and batch, user_version 0) gains the columns
    when opened and re-derives its tables from its stored events: it then equals a fresh one."""
    History(hnet, seed=5).run(60)
    path = tmp_path / "old.sqlite"
    with index_of(hnet, path) as indexer:
        indexer.sync()
    old = sqlite3.connect(path)
    old.execute("ALTER TABLE project DROP COLUMN buffer_share_bps")
    old.execute("ALTER TABLE batch DROP COLUMN buffer_share_bps")
    old.execute("PRAGMA user_version = 0")
    old.commit()
    old.close()
    with index_of(hnet, path) as indexer:
        assert derivation_version(indexer.db) == DERIVATION_VERSION
        indexer.sync()
    assert dump(path) == fresh_dump(hnet, tmp_path)
