"""The risk rules against a generated market with planted cases of known ground truth.

The market (bench.risk_market, its model documented there): a year on a ledger that starts empty, many
projects per vintage, accounts registered through the year, zero-price moves inside organisations and
gifts, exact receipts; `--cases` planted cases of every rule and as many near misses per rule. The scoring
(bench.risk_score): recall and precision per rule against the planted truth, alerts from near misses,
the alert load (all alerts per million events; high alerts on ordinary events per million ordinary events)
and agreement, alert for alert, with a plain reference implementation of each rule's definition
(bench.risk_reference) run over the same events. Floors: recall 1.0 and precision ≥ 0.95 per rule
(intra_group_transfer, a disclosure, is not held to precision), reference agreement 1.0, no alert from a
near miss, high_per_million ≤ 100; the run exits 1 when one is missed.

It also times indexing the same events (the index's apply stage: derived state and events into SQLite, a
transaction per 5,000 events) with the rules off and on. "On" is the node's default, the rules in a
process of their own (node.risk.worker) whose alerts each transaction waits for; the rules in the
indexer's own thread are timed too. The alerts of both are compared: they must be the same rows.

    python -m bench.risk [--quick]
"""

import argparse
import functools
import gc
import os
import tempfile
import time
from pathlib import Path

from bench.risk_market import Facts, Generator
from bench.risk_score import evaluate
from node.index.apply import Applier
from node.index.db import connect_writer
from node.index.decode import IndexedEvent
from node.risk.engine import RiskEngine, Rules
from node.risk.worker import RiskWorker

__all__ = ["Facts", "Generator", "main"]  # the market, for tests that import it from here


def index(events: list[IndexedEvent], path: Path, engine: Rules | None) -> float:
    db = connect_writer(path)
    applier = Applier(db, 31337, "Asia/Shanghai", engine)
    began = time.perf_counter()
    digest = "00" * 32
    for start in range(0, len(events), 5_000):
        db.execute("BEGIN")
        digest, _ = applier.apply(events[start : start + 5_000], digest)
        db.execute("COMMIT")
    elapsed = time.perf_counter() - began
    db.close()
    return elapsed


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def alert_rows(path: Path) -> list[tuple[object, ...]]:
    import sqlite3

    db = sqlite3.connect(path)
    rows = db.execute("SELECT * FROM alert ORDER BY key").fetchall()
    db.close()
    return rows


def main() -> None:
    # As in the node (node.api.app): the younger generations collected every 50,000 allocations.
    gc.set_threshold(50_000, 20, 20)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 accounts, 100,000 events")
    parser.add_argument("--cases", type=int, default=20)
    args = parser.parse_args()
    accounts, events = (1_000, 100_000) if args.quick else (10_000, 1_000_000)
    began = time.perf_counter()
    generator = Generator(accounts, events, args.cases)
    generator.ordinary()
    generator.plant()
    stream = generator.stream()
    # The generated events and the deal facts stand for the chain and node.sqlite: out of the collector's way.
    gc.freeze()
    print(
        f"{len(stream)} events, {generator.next_account - 1} accounts generated in {time.perf_counter() - began:.1f}s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        off = index(stream, Path(tmp) / "off.sqlite", None)
        worker = RiskWorker(functools.partial(RiskEngine, generator.facts))
        try:
            worker.take()  # started, with the facts unpickled: a node pays this once, when it starts
            assert worker.pid is not None
            rules_cpu = cpu_seconds(worker.pid)
            on = index(stream, Path(tmp) / "on.sqlite", worker)
            rules_cpu = cpu_seconds(worker.pid) - rules_cpu
        finally:
            worker.close()
        in_thread = index(stream, Path(tmp) / "thread.sqlite", RiskEngine(generator.facts))
        same = alert_rows(Path(tmp) / "on.sqlite") == alert_rows(Path(tmp) / "thread.sqlite")
        fields, failures = evaluate(Path(tmp) / "on.sqlite", generator, stream)
    print(
        f"indexing: rules off {len(stream) / off:,.0f} events/s, rules on {len(stream) / on:,.0f} events/s"
        f" (in the indexer's thread {len(stream) / in_thread:,.0f} events/s, ratio {off / in_thread:.3f});"
        f" alerts the same both ways: {same}; the rule process used {rules_cpu:.1f} s of CPU"
        f" ({rules_cpu / len(stream) * 1e6:.1f} µs per event) in {on:.1f} s"
    )
    if not same:
        raise SystemExit("the rule process and the engine in the indexer's thread raised different alerts")
    print(
        f"BENCH risk {fields} rules_on_ratio={off / on:.3f}"
        f" events={len(stream)} accounts={generator.next_account - 1} cases_per_rule={args.cases}"
        f" rules_off_events_per_s={len(stream) / off:.0f} rules_on_events_per_s={len(stream) / on:.0f}"
        f" in_thread_ratio={off / in_thread:.3f} rules_cpu_us_per_event={rules_cpu / len(stream) * 1e6:.1f}"
    )

    if failures:
        print("floors missed: " + "; ".join(failures))
        raise SystemExit(1)


if __name__ == "__main__":
    main()
