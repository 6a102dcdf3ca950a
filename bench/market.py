"""The disclosure platform under load, over real HTTP.

1. Listing search: p99 of buyers' searches (filters and sorts they use, 50 results a page) over 100,000
   listings beside an index of 1,000,000 events, against a bare endpoint of the same server.
2. A subscription campaign of 100,000 subscribers on a real chain: subscriptions per second from the
   first subscription request to every subscriber's certificate (with its inclusion proof) being
   served, in bulk requests of 20,000; and the on-chain transactions the campaign took.

    python -m bench.market [--quick]
"""

import argparse
import random
import sqlite3
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from bench.api import PROJECTS, REGULATOR, fill_index, percentiles, placeholder_manifest, timed
from node.api.app import create_app
from node.api.schemas import PROJECT_KINDS
from node.chain.anvil import free_port
from node.devflows import deposit, issued_batch, listing_for, settlement
from node.devnode import local_node, served
from node.settings import load_settings
from node.store import Store
from registry.campaigns import verify_subscriber
from registry.merkle import InclusionProof

JSON = {"content-type": "application/json"}
REGIONS = ("CN-SH", "CN-ZJ", "CN-JS", "CN-BJ", "CN-GD", "CN-SC")
SELLERS = ["0x" + f"{i:040x}" for i in range(1, 5001)]  # the holders bench.api's index already has


def fill_listings(settings, count: int) -> None:
    """Listings straight into node.sqlite, and their sellers registered in the index, a few frozen."""
    rng = random.Random(5)
    now = int(time.time())
    state = Store(settings.store_location)
    state.close()
    with sqlite3.connect(settings.node_state_path) as db:
        db.executemany(
            "INSERT INTO listing (seller, batch_id, quantity, price_fen_per_tonne, min_lot, valid_from, valid_until,"
            " title, description, created_at, project_id, vintage, verifier, region, kind, bundle)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0)",
            [
                (
                    rng.choice(SELLERS),
                    (project << 32) | 1,
                    rng.randint(1, 1000) * 1_000_000,
                    rng.randint(2_000, 15_000),
                    1_000_000,
                    now - rng.randint(0, 90) * 86_400,
                    now + rng.randint(1, 180) * 86_400,
                    f"园林碳汇 {i}",
                    "Verified urban green-space sink.",
                    now - (count - i),
                    project,
                    2026,
                    "0x" + "0b" * 20,
                    REGIONS[project % len(REGIONS)],
                    PROJECT_KINDS[project % len(PROJECT_KINDS)],
                )
                for i in range(count)
                for project in [rng.randint(1, PROJECTS)]
            ],
        )
    with sqlite3.connect(settings.node_state_path) as db:
        db.executemany(
            "INSERT INTO project_review (project_id, decision, reason, actor, at) VALUES (?, 'approved', '-', ?, ?)",
            [(project, REGULATOR, now) for project in range(1, PROJECTS + 1)],
        )
    with sqlite3.connect(settings.index_path) as db:
        db.executemany(
            "INSERT OR IGNORE INTO participant VALUES (?, 100, 0, ?, 1, 1)",
            [(seller, int(i % 500 == 0)) for i, seller in enumerate(SELLERS)],
        )
        db.execute("UPDATE batch SET status = 1 WHERE project_id % 50 = 0")  # a few frozen batches


SEARCHES = [
    {},
    {"sort": "price"},
    {"sort": "price", "descending": "true", "min_price": "60", "max_price": "90"},
    {"region": "CN-SH", "sort": "price"},
    {"kind": "park", "vintage": 2026, "sort": "quantity", "descending": "true"},
    {"project_id": 17},
    {"verifier": "0x" + "0b" * 20, "min_quantity": 500_000_000},
    {"status": "suspended"},
]


def search_bench(listings: int, events: int, requests: int) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        settings = load_settings(home=Path(tmp), api_port=port, rpc_url="http://127.0.0.1:9")
        began = time.perf_counter()
        fill_index(settings.index_path, events, events // 5)
        fill_listings(settings, listings)
        print(f"index of {events} events and {listings} listings written in {time.perf_counter() - began:.1f}s")
        placeholder_manifest(settings.manifest_path)
        app = create_app(settings, run_indexer=False)
        with (
            served(app, port, timeout_s=60, log_level="warning"),
            httpx.Client(base_url=settings.base_url, timeout=60) as client,
        ):
            bare = timed(client, "/healthz", requests)
            found = client.get("/v1/listings").json()
            assert len(found) == 50 and all(item["status"] == "open" for item in found), found[:1]
            samples: list[float] = []
            for params in SEARCHES:
                samples += timed(client, "/v1/listings", requests // len(SEARCHES) * 2, params=params)

    (_, bare99), (p50, p99) = percentiles(bare), percentiles(samples)
    return p99, p50, bare99


def campaign_bench(subscribers: int, chunk: int) -> tuple[float, int, int]:
    with tempfile.TemporaryDirectory() as tmp, local_node(Path(tmp), rate_limit_exempt=["127.0.0.1"]) as node:
        assert deposit(node, "park").status_code == 201
        _, batch = issued_batch(node)
        listing = node.ok("POST", "/v1/listings", "park", json=listing_for(batch, 1_000_000_000))
        rng = random.Random(3)
        entries = [
            {"subscriber": f"u{i:07d}", "grams": rng.choice((1, 5, 10, 50, 100)), "amount_fen": 1}
            for i in range(subscribers)
        ]
        target = sum(e["grams"] for e in entries)
        campaign = node.ok("POST", f"/v1/listings/{listing['id']}/campaign", "park",
                           json={"target": target, "deadline": int(time.time()) + 3600})  # fmt: skip
        cid = campaign["id"]
        retirements_before = len(node.ok("GET", "/v1/registry/retirements"))
        block_before = node.ok("GET", "/v1/status")["index"]["last_block"]

        def post(path: str, body: dict) -> dict:
            # A channel posting thousands of entries encodes and decodes them with a fast JSON library.
            reply = node.call("POST", path, "platform", content=orjson.dumps(body), headers=JSON)
            assert reply.status_code < 300, reply.text[:300]
            return orjson.loads(reply.content)

        began = time.perf_counter()
        ids: list[int] = []
        for start in range(0, subscribers, chunk):
            made = post(f"/v1/campaigns/{cid}/subscriptions", {"subscriptions": entries[start : start + chunk]})
            ids += range(made["first_id"], made["last_id"] + 1)
        subscribed = time.perf_counter()
        # The custodian's settlement files, one signed receipt each (signing is the bank's time, not ours).
        receipts = [
            settlement(node, cid, [(i, 1) for i in ids[start : start + chunk]], ref=f"SETTLE-{start}")
            for start in range(0, subscribers, chunk)
        ]
        signed = time.perf_counter()
        for receipt in receipts:
            state = post(f"/v1/campaigns/{cid}/receipts", receipt)
        assert state["state"] == "retired", state
        served: list[dict] = []
        after = 0
        while after is not None:
            reply = node.call("GET", f"/v1/campaigns/{cid}/certificates", params={"after": after, "limit": 20_000})
            page = orjson.loads(reply.content)
            served += page["certificates"]
            after = page["next_after"]
        finished = time.perf_counter()

        assert len(served) == subscribers and [c["subscription_id"] for c in served] == ids
        root = bytes.fromhex(state["root"][2:])
        for cert in random.Random(9).sample(served, min(2_000, subscribers)):
            assert verify_subscriber(cert["subscriber"], cert["grams"], InclusionProof.from_dict(cert["proof"]), root)
        retirements = len(node.ok("GET", "/v1/registry/retirements")) - retirements_before
        block_after = node.ok("GET", "/v1/status")["index"]["last_block"]
        print(
            f"campaign: subscribe {subscribed - began:.2f}s, payments + retirement {finished - signed:.2f}s"
            f" (certificates included), custodian signing {signed - subscribed:.2f}s (excluded),"
            f" {retirements} retirement, blocks {block_after - block_before}"
        )
        elapsed = finished - began - (signed - subscribed)
        return subscribers / elapsed, retirements, block_after - block_before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 listings over 100,000 events; 10,000 subscribers")
    args = parser.parse_args()
    listings, events, requests, subscribers = (
        (10_000, 100_000, 80, 10_000) if args.quick else (100_000, 1_000_000, 400, 100_000)
    )
    p99, p50, bare99 = search_bench(listings, events, requests)
    rate, txs, _ = campaign_bench(subscribers, 20_000)
    print(
        f"BENCH market search_p99_ms={p99:.1f} subscriptions_per_s={rate:.0f} txs_per_campaign={txs}"
        f" search_p50_ms={p50:.1f} bare_p99_ms={bare99:.1f} listings={listings} events={events}"
        f" subscribers={subscribers}"
    )


if __name__ == "__main__":
    main()
