"""Scoring for bench.risk: the engine's alerts against the planted truth, the near misses, the alert load,
and the plain reference implementation (bench.risk_reference) alert for alert.

- recall: a planted case is found if an alert of its rule names its participants (or a subset of them);
- precision: an alert is correct if it names a planted case of its rule, or a planted case that the
  rule's definition also covers (`Generator.implied`: a wash loop of one batch is a round trip);
  `intra_group_transfer` is a disclosure: its precision is shown, not held to the floor;
- near misses: alerts (of any rule) naming an account made for a near miss; there must be none;
- load: all alerts per million events; high alerts on ordinary (non-planted) events per million ordinary
  events; per rule, alerts on ordinary events per million ordinary events (all / high);
- reference agreement, per rule: |engine ∩ reference| / |engine ∪ reference| over alert identities (the
  rule, the event that raised it, its severity, its participants where the definition names them), as
  multisets; 1.0 when both are empty.
"""

import sqlite3
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.risk_market import Generator
from bench.risk_reference import Alert, Reference, identity
from node.risk.config import ENGINE_RULES as RULES

DISCLOSURES = {"intra_group_transfer"}  # not scored for precision
FLOORS = {"recall": 1.0, "precision": 0.95, "agreement": 1.0, "near_miss_alerts": 0, "high_per_million": 100.0}


@dataclass(frozen=True)
class Row:
    rule: str
    severity: str
    block: int
    log: int
    time: int
    participants: tuple[str, ...]
    why: str = ""


def engine_rows(path: Path) -> list[Row]:
    db = sqlite3.connect(path)
    rows = [
        Row(rule, severity, block, log, when, tuple(sorted(orjson.loads(participants))), en)
        for rule, severity, block, log, when, participants, en in db.execute(
            "SELECT rule, severity, block_number, log_index, block_time, participants, explanation_en FROM alert"
            " ORDER BY block_number, log_index, rule"
        )
    ]
    db.close()
    return rows


def reference_rows(generator: Generator, stream: list[Any]) -> tuple[list[Row], float]:
    began = time.perf_counter()
    alerts: list[Alert] = Reference(generator.facts).run(stream)
    rows = [Row(a.rule, a.severity, a.block, a.log, a.time, a.participants, a.why) for a in alerts]
    return rows, time.perf_counter() - began


def rules_of(rows: list[Row], generator: Generator) -> list[str]:
    seen = {row.rule for row in rows} | set(generator.truth)
    return [*RULES, *sorted(seen - set(RULES))]


def names(alert: set[str], cases: list[frozenset[str]]) -> bool:
    return bool(alert) and any(case <= alert or alert <= case for case in cases)


def score(rows: list[Row], generator: Generator) -> dict[str, tuple[float, float, int]]:
    found: dict[str, list[set[str]]] = defaultdict(list)
    for row in rows:
        found[row.rule].append(set(row.participants))
    result = {}
    for rule in rules_of(rows, generator):
        cases = generator.truth.get(rule, [])
        alerts = found.get(rule, [])
        hit = sum(1 for case in cases if any(names(alert, [case]) for alert in alerts))
        covered = [*cases, *generator.implied.get(rule, [])]
        correct = sum(1 for alert in alerts if names(alert, covered))
        result[rule] = (hit / len(cases) if cases else 1.0, correct / len(alerts) if alerts else 1.0, len(alerts))
    return result


def near_miss(rows: list[Row], generator: Generator) -> list[Row]:
    return [row for row in rows if generator.near_accounts.intersection(row.participants)]


def agreement(engine: list[Row], reference: list[Row], rules: list[str]) -> dict[str, tuple[float, list, list]]:
    """Per rule: the agreement and the alerts only the engine / only the reference raised."""
    result = {}
    for rule in rules:
        mine = Counter(identity(r.rule, r.severity, r.block, r.log, r.participants) for r in engine if r.rule == rule)
        theirs = Counter(
            identity(r.rule, r.severity, r.block, r.log, r.participants) for r in reference if r.rule == rule
        )
        union = sum((mine | theirs).values())
        both = sum((mine & theirs).values())
        only_engine = sorted((mine - theirs).elements(), key=lambda k: (k[1], k[2]))
        only_reference = sorted((theirs - mine).elements(), key=lambda k: (k[1], k[2]))
        result[rule] = (both / union if union else 1.0, only_engine, only_reference)
    return result


def evaluate(db_path: Path, generator: Generator, stream: list[Any], *, show: int = 5) -> tuple[str, list[str]]:
    """Prints the per-rule table, the differences from the reference and the near-miss alerts; returns the
    BENCH fields and the floors missed."""
    engine = engine_rows(db_path)
    reference, seconds = reference_rows(generator, stream)
    rules = rules_of(engine + reference, generator)
    scores = score(engine, generator)
    agreed = agreement(engine, reference, rules)
    events = len(stream)
    planted = generator.planted_blocks
    ordinary_events = events - len(planted)
    organic: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in engine:
        if row.block not in planted:
            organic[row.rule][0] += 1
            organic[row.rule][1] += row.severity == "high"
    per_million = 1e6 / max(ordinary_events, 1)
    print(f"the reference ran over {events} events in {seconds:.1f} s and raised {len(reference)} alerts"
          f" (the engine {len(engine)})")  # fmt: skip
    print(f"{'rule':28} {'recall':>6} {'precision':>9} {'alerts':>6} {'reference':>9} {'agreement':>9}"
          f" {'ordinary/M all':>14} {'high':>6}")  # fmt: skip
    by_rule_reference = Counter(row.rule for row in reference)
    for rule in rules:
        recall, precision, count = scores.get(rule, (1.0, 1.0, 0))
        mark = " (disclosure)" if rule in DISCLOSURES else ""
        all_, high = organic[rule]
        print(f"{rule:28} {recall:6.3f} {precision:9.3f} {count:6d} {by_rule_reference[rule]:9d}"
              f" {agreed[rule][0]:9.3f} {all_ * per_million:14.1f} {high * per_million:6.1f}{mark}")  # fmt: skip
    by_event = defaultdict(list)
    for row in engine:
        by_event[("engine", row.block, row.log, row.rule)].append(row)
    for row in reference:
        by_event[("reference", row.block, row.log, row.rule)].append(row)
    for rule in rules:
        _, only_engine, only_reference = agreed[rule]
        if not only_engine and not only_reference:
            continue
        print(f"  {rule}: {len(only_engine)} only in the engine, {len(only_reference)} only in the reference")
        for side, keys in (("engine", only_engine), ("reference", only_reference)):
            for key in keys[:show]:
                rows = by_event.get((side, key[1], key[2], rule), [])
                why = rows[0].why if rows else ""
                when = rows[0].time if rows else 0
                print(f"    only {side:9} block {key[1]} log {key[2]} t={when} {key[3]} {list(key[4])} {why}")
    missed_near = near_miss(engine, generator)
    reference_near = near_miss(reference, generator)
    for side, rows in (("engine", missed_near), ("reference", reference_near)):
        for row in rows[:show]:
            print(f"  near miss alerted by the {side}: {row.rule} block {row.block} {list(row.participants)} {row.why}")
    alerts_per_million = len(engine) * 1e6 / events
    high_ordinary = sum(high for _, high in organic.values())
    high_per_million = high_ordinary * per_million
    scored = {rule: value for rule, value in scores.items() if rule in generator.truth}
    recall_min = min(r for r, _, _ in scored.values())
    precision_min = min(p for rule, (_, p, _) in scored.items() if rule not in DISCLOSURES)
    agreement_min = min(a for a, _, _ in agreed.values())
    failures = []
    if recall_min < FLOORS["recall"]:
        failures.append(f"recall_min {recall_min:.3f} < 1.0")
    if precision_min < FLOORS["precision"]:
        failures.append(f"precision_min {precision_min:.3f} < 0.95")
    if agreement_min < FLOORS["agreement"]:
        failures.append(f"reference_agreement_min {agreement_min:.3f} < 1.0")
    if missed_near:
        failures.append(f"{len(missed_near)} alerts from near misses")
    if high_per_million > FLOORS["high_per_million"]:
        failures.append(f"high_per_million {high_per_million:.1f} > 100")
    fields = (
        f"recall_min={recall_min:.3f} precision_min={precision_min:.3f} reference_agreement_min={agreement_min:.3f}"
        f" near_miss_alerts={len(missed_near)} alerts_per_million={alerts_per_million:.1f}"
        f" high_per_million={high_per_million:.1f}"
    )
    return fields, failures
