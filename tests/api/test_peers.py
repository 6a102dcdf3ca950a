"""Two organisations' nodes on one chain compare their indexes: agreement, then a tampered derived row and a
tampered event each located exactly, and a regulator's scheduled comparison raising an alert."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from node.devflows import error_of, issued_batch
from node.devnode import LocalNode, peer_node
from node.peers import PeerWatch, compare


@pytest.fixture(scope="module")
def other(node: LocalNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNode]:
    """Another organisation's node: its own home, keys and index, reading the same chain."""
    with peer_node(tmp_path_factory.mktemp("other"), node) as handle:
        yield handle


@pytest.fixture(scope="module")
def history(node: LocalNode, other: LocalNode) -> int:
    """Some ledger history, indexed by both nodes; returns the block they both hold."""
    _, batch = issued_batch(node)
    node.ok("POST", "/v1/transfers", "park", json={"batch_id": batch, "to": node.addresses["buyer"],
                                                   "amount": 1_000_000})  # fmt: skip
    head = node.ok("GET", "/v1/status")["index"]["last_block"]
    deadline = time.monotonic() + 30
    while other.ok("GET", "/v1/status")["index"]["last_block"] < head:
        assert time.monotonic() < deadline, "the other node did not index the chain"
        time.sleep(0.1)
    return head


def _tamper(node: LocalNode, sql: str, params: tuple = ()) -> None:
    node.index_write(sql, params)


def test_two_nodes_on_one_chain_agree_at_the_block_both_hold(node, other, history):
    comparison = compare([node.url, other.url], block=history)
    assert comparison.agreed, [o.describe() for o in comparison.outcomes]
    mine = node.ok("GET", "/v1/peer/digest", params={"block": history})
    assert mine == other.ok("GET", "/v1/peer/digest", params={"block": history})
    assert mine["events"] == node.ok("GET", "/v1/status")["index"]["events"]
    assert set(mine["tables"]) >= {"participant", "batch", "balance", "retirement"}


def test_an_earlier_block_is_compared_on_state_rederived_from_its_events(node, other, history):
    earlier = history - 1
    mine = node.ok("GET", "/v1/peer/digest", params={"block": earlier})
    assert mine == other.ok("GET", "/v1/peer/digest", params={"block": earlier})
    now = node.ok("GET", "/v1/peer/digest", params={"block": history})
    # The transfer in the last block moved a balance: the balances differ, the participants do not.
    assert mine["tables"]["balance"] != now["tables"]["balance"]
    assert mine["tables"]["participant"] == now["tables"]["participant"]
    assert mine["events"] < now["events"]


def test_a_tampered_balance_is_found_by_table_and_row(node, other, history):
    batch, account, amount = other.index_write(
        "SELECT batch_id, account, amount FROM balance ORDER BY batch_id, account LIMIT 1"
    )[0]
    _tamper(other, "UPDATE balance SET amount = amount + 1 WHERE batch_id = ? AND account = ?", (batch, account))
    try:
        outcome = compare([node.url, other.url], block=history).outcomes[0]
        assert not outcome.agrees and outcome.first_event is None
        assert outcome.table == "balance"
        assert outcome.row is not None and outcome.row["key"] == f'[{batch},"{account}"]'
        assert outcome.row["ours"] != outcome.row["theirs"]
    finally:
        _tamper(other, "UPDATE balance SET amount = ? WHERE batch_id = ? AND account = ?", (amount, batch, account))
    assert compare([node.url, other.url], block=history).agreed


def test_a_tampered_event_is_found_at_its_block_and_position(node, other, history):
    block, log_index, digest = other.index_write(
        "SELECT block_number, log_index, digest FROM chain_event ORDER BY block_number DESC, log_index DESC LIMIT 1"
    )[0]
    _tamper(other, "UPDATE chain_event SET digest = ? WHERE block_number = ? AND log_index = ?",
            ("00" * 32, block, log_index))  # fmt: skip
    try:
        outcome = compare([node.url, other.url], block=history).outcomes[0]
        assert not outcome.agrees
        assert outcome.first_event is not None
        assert (outcome.first_event["block"], outcome.first_event["log_index"]) == (block, log_index)
    finally:
        _tamper(other, "UPDATE chain_event SET digest = ? WHERE block_number = ? AND log_index = ?",
                (digest, block, log_index))  # fmt: skip


def test_the_regulators_scheduled_comparison_raises_one_alert_per_divergence(node, other, history):
    watch = PeerWatch(node.url, [other.url], period_s=3600, save=node.services.state.save_report_alert)
    assert watch.check().agreed
    alerts = node.ok("GET", "/v1/regulator/alerts", "regulator", params={"rule": "index_divergence"})
    assert alerts == []
    _tamper(other, "UPDATE participant SET roles = roles + 1 WHERE address = ?", (node.addresses["buyer"],))
    try:
        assert not watch.check().agreed
        assert not watch.check().agreed  # the same divergence again: still one alert
    finally:
        _tamper(other, "UPDATE participant SET roles = roles - 1 WHERE address = ?", (node.addresses["buyer"],))
    alerts = node.ok("GET", "/v1/regulator/alerts", "regulator", params={"rule": "index_divergence"})
    assert len(alerts) == 1
    assert alerts[0]["severity"] == "high" and "participant" in alerts[0]["explanation_en"]


def test_the_command_reports_agreement_and_a_divergence_by_its_exit_status(node, other, history):
    env = {**os.environ, "SINKNODE_HOME": str(node.settings.home), "SINKNODE_API_PORT": str(node.settings.api_port)}
    command = [sys.executable, "-m", "node.cli", "peers", "compare", "--peer", other.url, "--block", str(history)]
    agreed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert agreed.returncode == 0, agreed.stderr
    assert "agrees" in agreed.stdout
    _tamper(other, "UPDATE batch SET quantity = quantity + 1 WHERE id = (SELECT MIN(id) FROM batch)")
    try:
        differs = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    finally:
        _tamper(other, "UPDATE batch SET quantity = quantity - 1 WHERE id = (SELECT MIN(id) FROM batch)")
    assert differs.returncode == 1
    assert "table batch differs" in differs.stdout


def test_a_block_beyond_the_index_and_an_unknown_table_are_refused(node, history):
    assert error_of(node.call("GET", "/v1/peer/digest", params={"block": history + 10_000})) == (
        409, "not_indexed_yet")  # fmt: skip
    assert error_of(node.call("GET", "/v1/peer/rows", params={"block": history, "table": "alert"}))[0] == 422
