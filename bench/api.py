"""Read latency over real HTTP from an index of 1,000,000 events, written straight into SQLite.

Provenance pages of 500 events (first, middle, last) of a batch with a 200,000-event history, and a
regulator summary grouped by project over the whole year, beside a bare endpoint of the same server.

    python -m bench.api [--quick]
"""

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from node.api.app import create_app
from node.chain.anvil import free_port
from node.chain.manifest import CompilerInfo, ContractDeployment, DeploymentManifest
from node.devnode import served
from node.index.apply import day_function
from node.index.db import connect_writer
from node.settings import load_settings
from node.store import Store

YEAR_START = 1_767_196_800  # 2026-01-01 Asia/Shanghai midnight, roughly
PROJECTS = 200
LONG_BATCH = (1 << 32) | 1
REGULATOR = "0x" + "9e" * 20


def fill_index(path: Path, events: int, long_history: int) -> None:
    db = connect_writer(path)
    rng = random.Random(7)
    day_of = day_function("Asia/Shanghai")
    db.execute("BEGIN")
    db.execute("INSERT INTO participant VALUES (?, 9, 8, 0, 1, ?)", (REGULATOR, YEAR_START))
    batches = [(p << 32) | 1 for p in range(1, PROJECTS + 1)]
    for batch in batches:
        project = batch >> 32
        db.execute(
            "INSERT INTO project VALUES (?, ?, ?, 1, ?, 1, 1, ?, NULL)",
            (project, "0x" + "0a" * 20, "0x" + "00" * 32, YEAR_START, YEAR_START),
        )
        db.execute(
            "INSERT INTO batch VALUES (?, ?, 1, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, 1, ?, ?, 0)",
            (
                batch,
                project,
                YEAR_START - 365 * 86400,
                YEAR_START,
                10**12,
                "0x" + "0a" * 20,
                "0x" + "0b" * 20,
                "0x" + "0c" * 20,
                "0x" + "0d" * 20,
                "0x" + "ee" * 32,
                "0x" + "ff" * 32,
                "0x" + "11" * 32,
                YEAR_START,
                "0x" + "12" * 32,
            ),
        )
    rows, stats = [], {}
    holders = ["0x" + f"{i:040x}" for i in range(1, 5001)]
    for n in range(events):
        block, log_index = 10 + n // 100, n % 100
        when = YEAR_START + n * (365 * 86400) // events
        batch = LONG_BATCH if n % (events // long_history) == 0 else rng.choice(batches)
        sender, receiver = rng.sample(holders, 2)
        amount = rng.randint(1, 10**6)
        args = orjson.dumps(
            {"batchId": batch, "from": sender, "to": receiver, "amount": amount, "dealRef": "0x" + "00" * 32}
        ).decode()
        rows.append(
            (
                31337,
                block,
                "0x" + f"{block:064x}",
                when,
                "0x" + f"{n:064x}",
                log_index,
                "CertificateTransferred",
                batch,
                batch >> 32,
                sender,
                receiver,
                amount,
                args,
                "00" * 32,
            )
        )
        key = (day_of(when), batch >> 32)
        stats[key] = stats.get(key, 0) + amount
        if len(rows) == 50_000:
            _insert(db, rows)
            rows = []
    _insert(db, rows)
    db.executemany(
        "INSERT INTO daily_project_stats (day, project_id, issued, issuances, transferred, transfers, retired,"
        " retirements, reversed, reversals) VALUES (?, ?, 0, 0, ?, 1, 0, 0, 0, 0)",
        [(day, project, total) for (day, project), total in stats.items()],
    )
    db.execute(
        "INSERT INTO checkpoint VALUES (1, 31337, ?, 1, ?, ?, ?, ?)",
        ("0x" + "aa" * 20, 10 + events // 100, "0x" + "00" * 32, events, "00" * 32),
    )
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.close()


def _insert(db: sqlite3.Connection, rows: list[tuple]) -> None:
    db.executemany(
        "INSERT INTO chain_event (chain_id, block_number, block_hash, block_time, tx_hash, log_index, name, batch_id,"
        " project_id, account, counterparty, amount, args, digest) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows,
    )


def placeholder_manifest(path: Path) -> None:
    """A deployment manifest for an API served from a prepared index with no chain behind it."""
    DeploymentManifest(
        chain_id=31337,
        deployed_at="-",
        admin="0x" + "aa" * 20,
        buffer_account="0x" + "bb" * 20,
        compiler=CompilerInfo(version="-", settings={}, input_sha256="-"),
        contracts={
            "SinkRegistry": ContractDeployment(
                address="0x" + "aa" * 20,
                deploy_tx="-",
                deploy_block=1,
                deploy_block_hash="-",
                abi_sha256="-",
                runtime_sha256="-",
                immutable_references={},
                abi=[],
            )
        },
    ).save(path)


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def timed(client: httpx.Client, path: str, count: int, **kwargs) -> list[float]:
    for _ in range(5):  # warm the connection and the page cache first
        client.get(path, **kwargs)
    samples = []
    for _ in range(count):
        began = time.perf_counter()
        reply = client.get(path, **kwargs)
        samples.append((time.perf_counter() - began) * 1000)
        assert reply.status_code == 200, reply.text[:300]
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 events and fewer requests")
    args = parser.parse_args()
    events, long_history, requests = (100_000, 20_000, 50) if args.quick else (1_000_000, 200_000, 200)
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        settings = load_settings(
            home=Path(tmp), api_port=port, rpc_url="http://127.0.0.1:9", rate_limit_exempt=["127.0.0.1"]
        )
        began = time.perf_counter()
        fill_index(settings.index_path, events, long_history)
        print(f"index of {events} events written in {time.perf_counter() - began:.1f}s")
        placeholder_manifest(settings.manifest_path)
        state = Store(settings.store_location)
        token = state.create_token(key_name="regulator", account=REGULATOR, label="bench")
        state.close()
        with (
            served(create_app(settings, run_indexer=False), port, timeout_s=60, log_level="warning"),
            httpx.Client(base_url=settings.base_url, timeout=60) as client,
        ):
            bare = timed(client, "/healthz", requests)
            first = client.get(f"/v1/batches/{LONG_BATCH}/provenance", params={"limit": 500}).json()
            assert len(first["events"]) == 500
            with sqlite3.connect(settings.index_path) as db:
                positions = db.execute(
                    "SELECT block_number, log_index FROM chain_event WHERE batch_id = ? ORDER BY block_number,"
                    " log_index",
                    (LONG_BATCH,),
                ).fetchall()
            from node.index.queries import encode_cursor

            middle = encode_cursor(*positions[len(positions) // 2])
            last = encode_cursor(*positions[-501])
            provenance: list[float] = []
            for cursor in (None, middle, last):
                params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
                provenance += timed(client, f"/v1/batches/{LONG_BATCH}/provenance", requests, params=params)
            headers = {"authorization": f"Bearer {token}"}
            summary = timed(client, "/v1/regulator/summary", requests // 4, headers=headers)
    (bp50, bp99), (pp50, pp99), (sp50, sp99) = percentiles(bare), percentiles(provenance), percentiles(summary)
    print(
        f"BENCH api provenance_p99_ms={pp99:.1f} summary_p99_ms={sp99:.1f} bare_p99_ms={bp99:.1f}"
        f" provenance_p50_ms={pp50:.1f} summary_p50_ms={sp50:.1f} bare_p50_ms={bp50:.1f} events={events}"
    )


if __name__ == "__main__":
    main()
