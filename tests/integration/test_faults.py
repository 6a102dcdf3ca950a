"""Exactly-once writes under kill -9: a whole node (`sinknode up --no-demo`) under three concurrent writers
(transfers; retirements and checkout offsets; deal flows with fresh issuances), killed at random moments,
then audited against the chain read directly over JSON-RPC (node.faultdrill, shared with bench.faults).

After every kill, writes must resume (a killed `up` is started again by the drill; a killed chain is
restarted by `up` itself, and nothing else is restarted); every write answered 2xx must be on chain exactly
once with the ids it was answered with, no id may be answered to two requests, no listing sold beyond its
quantity, and the node's index must equal a clean re-index of the chain.
"""

from pathlib import Path

import pytest

from node.faultdrill import NODE_KINDS, DrillConfig, DrillReport, run_drill

pytestmark = pytest.mark.slow
MAX_RECOVERY_S = 15.0


def _anvil_log_tail(workdir: Path) -> str:
    """The end of the chain's log, to say why a node that exited by itself did."""
    path = workdir / "home" / "logs" / "anvil.log"
    return path.read_text(errors="replace")[-2000:] if path.exists() else ""


def check(report: DrillReport, workdir: Path) -> None:
    print(report.summary())
    if report.node_died is not None:
        pytest.fail(f"the node exited by itself: {report.node_died}\n{_anvil_log_tail(workdir)}")
    assert report.acknowledged > 100, "the writers got answers"
    assert report.lost == [], "every acknowledged write is on chain once, with the ids it was answered with"
    assert report.duplicated == [], "no write is on chain twice"
    assert report.oversold == [], "no listing is sold beyond its quantity"
    assert report.reused_ids == [], "no id is answered to two requests"
    assert report.index_equal, "the index equals a clean re-index"
    assert report.problems == []
    for kill in report.kills:
        assert kill.recovery_s is not None, f"writes resumed after kill -9 {kill.kind} (round {kill.round})"
        assert kill.recovery_s <= MAX_RECOVERY_S, f"round {kill.round}: {kill.recovery_s:.1f} s to a 2xx write"
    node_kills = sum(kill.kind in NODE_KINDS for kill in report.kills)
    assert report.up_refusals == [], "a restarted `up` takes over the chain the killed one left"
    assert report.node_starts == 1 + node_kills, "nothing else was restarted"


def test_node_kills_under_three_writers(tmp_path: Path) -> None:
    """kill -9 of `up`, of its rule process, or of both, at random moments: 5 rounds."""
    config = DrillConfig(rounds=5, kinds=("node", "node+rules", "rules"), seed=5, gap_s=(1.0, 3.0))
    report = run_drill(tmp_path, config)
    assert [k.kind for k in report.kills].count("rules") >= 1 and len(report.kills) == 5
    check(report, tmp_path)


def test_chain_kills_under_three_writers(tmp_path: Path) -> None:
    """kill -9 of the chain at random moments: 3 rounds; `up` restarts it and the node is never restarted."""
    config = DrillConfig(rounds=3, kinds=("chain",), seed=3, gap_s=(1.0, 3.0))
    report = run_drill(tmp_path, config)
    assert len(report.kills) == 3 or report.node_died is not None
    check(report, tmp_path)
    assert report.node_starts == 1, "the node ran on through every chain kill"
