"""Checkout offsets through the API: orders per second from the request to every order's certificate
being served, and the on-chain transactions each batch of orders needs.

    python -m bench.offsets [--quick]
"""

import argparse
import random
import tempfile
import time
from pathlib import Path

import orjson

from node.devnode import local_node
from node.projects.issuance import report_statement_period
from registry.merkle import InclusionProof
from registry.offsets import verify_order

DAY = 86_400


def make_orders(count: int, prefix: str, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [
        {
            "order_id": f"{prefix}-{i:07d}",
            "legs": [
                {"mode": "road", "distance_km": rng.randint(50, 2500), "weight_kg": round(rng.uniform(0.1, 8), 2)},
                {"mode": "van", "distance_km": rng.randint(1, 40), "weight_kg": round(rng.uniform(0.1, 8), 2)},
            ],
            "packaging": [{"material": "corrugated_board", "mass_kg": round(rng.uniform(0.05, 0.6), 2)}],
        }
        for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 orders, one round")
    args = parser.parse_args()
    count, rounds = (10_000, 1) if args.quick else (100_000, 3)
    with tempfile.TemporaryDirectory() as tmp, local_node(Path(tmp), rate_limit_exempt=["127.0.0.1"]) as node:
        now = int(time.time())
        project = node.ok("POST", "/v1/projects", "park", json={"metadata_hash": "0x" + "01" * 32})["result"][
            "project_id"
        ]
        # 250 million camphor trees growing a centimetre: about 11 million tonnes, enough for every round
        # (25 rows: a row holds at most 10 million trees).
        trees = {
            "t1": [{"species": "香樟", "dbh_cm": 25.0, "count": 10_000_000}] * 25,
            "t2": [{"species": "香樟", "dbh_cm": 26.0, "count": 10_000_000}] * 25,
        }
        report = {"period": {"start": "2025-01-01", "end": "2025-12-31"}, "trees": trees}
        monitoring = node.ok("POST", f"/v1/projects/{project}/monitoring", "park", json=report)
        statement = {
            "project_id": project,
            "period_start": report_statement_period(report)[0],
            "period_end": report_statement_period(report)[1],
            "quantity": monitoring["accounting"]["creditable_grams"],
            "evidence_root": monitoring["evidence_root"],
            "methodology": "SL-GS-001/1.1",
            "expiry": now + 3600,
        }
        signature = node.ok("POST", "/v1/verifications", "verifier", json=statement)["signature"]
        batch = node.ok("POST", "/v1/batches", "issuer", json={"statement": statement, "signature": signature})
        batch_id = batch["result"]["batch_id"]
        node.ok(
            "POST",
            "/v1/transfers",
            "park",
            json={"batch_id": batch_id, "to": node.addresses["platform"], "amount": 5 * 10**12},
        )
        best, txs = 0.0, 0
        for round_ in range(rounds):
            orders = make_orders(count, f"R{round_}", round_)
            began = time.perf_counter()
            result = node.ok("POST", "/v1/offsets/logistics", "platform", json={"orders": orders, "region": "CN-ZJ"})
            listed = node.call("GET", f"/v1/offsets/{result['offset_id']}/orders")
            elapsed = time.perf_counter() - began
            assert len(orjson.loads(listed.content)["orders"]) == count
            # Every order's certificate is now served; check a sample as a shopper would, one by one.
            root_bytes = bytes.fromhex(result["root"][2:])
            for order in random.Random(round_).sample(orders, 50):
                cert = node.ok("GET", f"/v1/offsets/orders/{order['order_id']}")
                proof = InclusionProof.from_dict(cert["proof"])
                assert verify_order(cert["order_id"], cert["grams"], proof, root_bytes)
            best = max(best, count / elapsed)
            txs = max(txs, len(result["retirements"]))
            print(f"round {round_}: {count} orders in {elapsed:.2f}s, {len(result['retirements'])} retirement(s)")
    print(f"BENCH offsets orders={count} orders_per_s={best:.0f} txs_per_batch={txs}")


if __name__ == "__main__":
    main()
