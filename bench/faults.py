"""Exactly-once writes under faults: a whole node (`sinknode up --no-demo`) under three writer threads,
kill -9 at random moments of its processes (`up`, its rule process, or both; the bench restarts `up`) or of
its chain (anvil, which `up` restarts from a state file up to 5 s old), then every acknowledged write
checked against the chain over JSON-RPC and the index against a clean re-index (node.faultdrill).

    python -m bench.faults [--quick] [--rounds N] [--seed S] [--kinds node,rules,node+rules,chain] [--keep]

Floors: lost, duplicated, oversold and reused_ids all 0, recovery (kill → first 2xx write sent after it)
at most 15 s. The process exits 1 if a floor is missed.
"""

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from node.faultdrill import KILL_KINDS, DrillConfig, run_drill

MAX_RECOVERY_S = 15.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds (about a minute)")
    parser.add_argument("--rounds", type=int, default=None, help="kill rounds (default 12; 3 with --quick)")
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--kinds", default=None, help=f"comma-separated kills among {','.join(KILL_KINDS)}")
    parser.add_argument("--keep", action="store_true", help="keep the node's home and logs")
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 12)
    # --quick kills the node twice ways and the chain once; the full run each kind in turn.
    kinds = ("node+rules", "chain", "node") if args.quick else KILL_KINDS
    if args.kinds:
        kinds = tuple(args.kinds.split(","))
    config = DrillConfig(rounds=rounds, kinds=kinds, seed=args.seed, gap_s=(1.0, 3.0) if args.quick else (1.0, 4.0))
    workdir = Path(tempfile.mkdtemp(prefix="sinkledger-faults-"))
    ok = False
    try:
        report = run_drill(workdir, config, say=lambda line: print(line, flush=True))
        print(report.summary(), flush=True)
        print(f"took {report.seconds:.0f} s; `up` started {report.node_starts} times", flush=True)
        print(report.bench_line(), flush=True)
        ok = report.floors_met(MAX_RECOVERY_S)
    finally:
        if args.keep or not ok:
            print(f"node home and logs kept in {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
