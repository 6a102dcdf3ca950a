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
process of their own (node.risk.worker) whose alerts each transaction waits for, each range handed to it
before the previous one commits as the indexer does (`--no-pipeline`: when its own apply begins); the
rules in the indexer's own thread are timed too (in_thread_ratio). The alerts of both are compared: they
must be the same rows. Then the engine runs alone in this thread over the market, plain (rule_us_per_event)
and with each of its methods clocked (a table of each method's own µs per event; `--no-costs` skips it).

    python -m bench.risk [--quick]
"""

import argparse
import functools
import gc
import inspect
import os
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FunctionType
from typing import Any

from bench.risk_market import Facts, Generator
from bench.risk_score import evaluate
from node.index.apply import Applier, rule_events
from node.index.db import connect_writer
from node.index.decode import IndexedEvent
from node.risk.engine import RiskEngine, Rules
from node.risk.worker import RiskWorker

__all__ = ["Facts", "Generator", "main"]  # the market, for tests that import it from here


# speed (the indexing figures and the rules' cost) ----------------------------------------------------
RANGE = 5_000  # events per transaction


def index(events: list[IndexedEvent], path: Path, engine: Rules | None, *, pipeline: bool = True) -> float:
    """Seconds to write the events through the apply stage, a transaction per RANGE events. A rule process is
    handed each range before the previous one commits (as node.index.follower does), unless not `pipeline`."""
    db = connect_writer(path)
    applier = Applier(db, 31337, "Asia/Shanghai", engine)
    ranges = [events[start : start + RANGE] for start in range(0, len(events), RANGE)]
    began = time.perf_counter()
    digest = "00" * 32
    for number, events_ in enumerate(ranges):
        ahead = ranges[number + 1] if pipeline and number + 1 < len(ranges) else None
        db.execute("BEGIN")
        digest, _ = applier.apply(events_, digest, ahead=ahead)
        db.execute("COMMIT")
    elapsed = time.perf_counter() - began
    db.close()
    return elapsed


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CollectorClock:
    """Seconds the cyclic garbage collector ran while it is installed (gc.callbacks)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._began = 0.0

    def __call__(self, phase: str, _: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._began

    def __enter__(self) -> "CollectorClock":
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


@dataclass
class RuleCost:
    """The engine alone in this thread over the market: its time per event, and each method's share."""

    us_per_event: float  # unwrapped, the collector included
    collector_us_per_event: float
    methods: list[tuple[str, float, float]]  # (method, calls per event, own µs per event), dearest first


def _timed(name: str, method: Callable[..., Any], own: dict[str, list[float]], stack: list[list[float]]) -> Any:
    """`method` wrapped in a clock: own[name] gathers its calls, its own seconds and its calls to clocked callees."""
    clock = time.perf_counter

    def timed(*args: Any, **kwargs: Any) -> Any:
        began = clock()
        stack.append([0.0, 0])
        try:
            return method(*args, **kwargs)
        finally:
            elapsed = clock() - began
            inner, callees = stack.pop()
            entry = own[name]
            entry[0] += 1
            entry[1] += elapsed - inner
            entry[2] += callees
            if stack:
                stack[-1][0] += elapsed
                stack[-1][1] += 1

    return timed


def _clock_cost(n: int = 200_000) -> tuple[float, float]:
    """Seconds a clocked call adds inside its own clock, and in its caller's own time."""

    def nothing() -> None:
        return None

    def bare() -> None:
        for _ in range(n):
            nothing()

    began = time.perf_counter()
    bare()
    bare_s = time.perf_counter() - began
    own: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0])
    stack: list[list[float]] = []
    child = _timed("child", nothing, own, stack)

    def caller() -> None:
        for _ in range(n):
            child()

    _timed("caller", caller, own, stack)()
    return own["child"][1] / n, max(own["caller"][1] - bare_s, 0.0) / n


def _run_engine(engine: RiskEngine, events: list[tuple[Any, ...]]) -> tuple[float, float]:
    """Seconds to observe the events a range at a time (alerts taken after each), and the collector's part."""
    observe = engine.observe
    with CollectorClock() as collector:
        began = time.perf_counter()
        for start in range(0, len(events), RANGE):
            for event in events[start : start + RANGE]:
                observe(*event)
            engine.take()
        elapsed = time.perf_counter() - began
    return elapsed, collector.seconds


def rule_cost(stream: list[IndexedEvent], facts: Facts) -> RuleCost:
    """Runs the engine twice over the market in this thread: plain, for its time per event, then with every
    method of the instance (`observe` and each `_rule` or helper, found on the class, not named here) wrapped
    in a clock that keeps each call's own time, its callees' excluded. The clocks' own cost, measured on an empty
    function, is taken off each method for its calls and its calls to clocked callees."""
    events = rule_events(stream)
    plain, collector = _run_engine(RiskEngine(facts), events)
    engine = RiskEngine(facts)
    own: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0])
    stack: list[list[float]] = []
    skip = {"reset", "warm", "take", "flush", "close"}
    for name in dir(type(engine)):
        attribute = inspect.getattr_static(type(engine), name)
        if name.startswith("__") or name in skip or not isinstance(attribute, (FunctionType, staticmethod)):
            continue
        setattr(engine, name, _timed(name, getattr(engine, name), own, stack))
    _run_engine(engine, events)
    inside, outside = _clock_cost()
    n = len(events)
    methods = sorted(
        (
            (name, count / n, max(seconds - count * inside - callees * outside, 0.0) / n * 1e6)
            for name, (count, seconds, callees) in own.items()
        ),
        key=lambda row: -row[2],
    )
    return RuleCost(plain / n * 1e6, collector / n * 1e6, methods)


@dataclass
class Speed:
    off: float  # seconds to index with the rules off
    on: float  # with the rules in a process of their own (pipelined unless --no-pipeline)
    in_thread: float  # with the engine in the indexer's thread
    rules_cpu: float  # CPU seconds of the rule process
    in_thread_collector: float  # seconds of cyclic collection during the in-thread run
    same: bool  # the rule process and the engine in the thread raised the same alert rows
    cost: RuleCost | None

    def ratios(self) -> tuple[float, float]:
        return self.off / self.on, self.off / self.in_thread


def measure_speed(stream: list[IndexedEvent], facts: Facts, tmp: Path, *, pipeline: bool = True,
                  costs: bool = True) -> Speed:  # fmt: skip
    """Indexes the stream three times (rules off, in their process, in the thread) into `tmp`/off, on and
    thread.sqlite; `costs`: then the engine alone, for its cost per rule."""
    off = index(stream, tmp / "off.sqlite", None)
    worker = RiskWorker(functools.partial(RiskEngine, facts))
    try:
        worker.take()  # started, with the facts unpickled: a node pays this once, when it starts
        assert worker.pid is not None
        rules_cpu = cpu_seconds(worker.pid)
        on = index(stream, tmp / "on.sqlite", worker, pipeline=pipeline)
        rules_cpu = cpu_seconds(worker.pid) - rules_cpu
    finally:
        worker.close()
    with CollectorClock() as collector:
        in_thread = index(stream, tmp / "thread.sqlite", RiskEngine(facts))
    same = alert_rows(tmp / "on.sqlite") == alert_rows(tmp / "thread.sqlite")
    cost = rule_cost(stream, facts) if costs else None
    return Speed(off, on, in_thread, rules_cpu, collector.seconds, same, cost)


def print_speed(speed: Speed, events: int) -> None:
    on_ratio, thread_ratio = speed.ratios()
    print(
        f"indexing: rules off {events / speed.off:,.0f} events/s, rules on {events / speed.on:,.0f} events/s"
        f" (ratio {on_ratio:.3f}); in the indexer's thread {events / speed.in_thread:,.0f} events/s"
        f" (ratio {thread_ratio:.3f}, {speed.in_thread_collector:.1f} s of it the cyclic collector);"
        f" alerts the same both ways: {speed.same}; the rule process used {speed.rules_cpu:.1f} s of CPU"
        f" ({speed.rules_cpu / events * 1e6:.1f} µs per event) in {speed.on:.1f} s"
    )
    if speed.cost is not None:
        cost = speed.cost
        print(
            f"the engine alone in this thread: {cost.us_per_event:.1f} µs per event"
            f" ({cost.collector_us_per_event:.1f} of it the cyclic collector); own time per method"
            f" (its callees excluded, the clocks' cost taken off; together {sum(us for _, _, us in cost.methods):.1f}"
            " µs per event):"
        )
        print(f"  {'method':28} {'calls/event':>11} {'µs/event':>9} {'share':>6}")
        total = sum(us for _, _, us in cost.methods) or 1.0
        for name, calls, us in cost.methods:
            if us >= 0.05 or calls >= 0.01:
                print(f"  {name:28} {calls:11.3f} {us:9.2f} {us / total:6.1%}")


def speed_fields(speed: Speed) -> str:
    """The BENCH line's speed figures."""
    on_ratio, thread_ratio = speed.ratios()
    fields = f"rules_on_ratio={on_ratio:.3f} in_thread_ratio={thread_ratio:.3f}"
    if speed.cost is not None:
        fields += f" rule_us_per_event={speed.cost.us_per_event:.1f}"
    return fields


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
    parser.add_argument("--no-pipeline", action="store_true", help="the rule process waits for each commit")
    parser.add_argument("--no-costs", action="store_true", help="no per-rule costs (the engine alone, twice)")
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
        speed = measure_speed(stream, generator.facts, Path(tmp), pipeline=not args.no_pipeline,
                              costs=not args.no_costs)  # fmt: skip
        fields, failures = evaluate(Path(tmp) / "on.sqlite", generator, stream)
    print_speed(speed, len(stream))
    if not speed.same:
        raise SystemExit("the rule process and the engine in the indexer's thread raised different alerts")
    print(
        f"BENCH risk {fields} {speed_fields(speed)}"
        f" events={len(stream)} accounts={generator.next_account - 1} cases_per_rule={args.cases}"
        f" rules_off_events_per_s={len(stream) / speed.off:.0f} rules_on_events_per_s={len(stream) / speed.on:.0f}"
        f" rules_cpu_us_per_event={speed.rules_cpu / len(stream) * 1e6:.1f}"
    )

    if failures:
        print("floors missed: " + "; ".join(failures))
        raise SystemExit(1)


if __name__ == "__main__":
    main()
