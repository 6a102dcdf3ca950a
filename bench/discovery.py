"""Needs-based discovery under load, over real HTTP.

100,000 listings (vintages 2019-2026, regions down to cities, six kinds, minimum lots from half a tonne to
ten tonnes, zero prices, withdrawn, expired and not-yet-open ones, deals holding part of some) beside an index
of 200,000 events; 1,000 needs of every shape a buyer states (quantity, budget, price cap, regions or
prefixes, kinds, vintage range, retirement deadline, one or two orders), each answered by
`GET /v1/discovery`. Reports the p99 of an answer, and checks 50 sampled answers against a brute-force
reading: every listing and every deal read straight from the store, each listing's status worked out by
hand, and registry.discovery's rule applied to all of them in Python. Then ten changes to the market, each
followed by a need checked the same way, and the time from asking for a 100-retirement ESG statement over
HTTP to holding its PDF.

    python -m bench.discovery [--quick]

Prints `BENCH discovery needs= p99_ms= statement_pdf_s= wrong_answers= after_change_ms=`.
"""

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.api import PROJECTS, REGULATOR, fill_index, percentiles, placeholder_manifest
from node.api.app import create_app
from node.api.schemas import PROJECT_KINDS
from node.chain.anvil import free_port
from node.devnode import served
from node.market.deals import RESERVING
from node.market.discovery import offer_of
from node.settings import load_settings
from node.store import Store
from registry.discovery import ORDERS, Need, discover

T = 1_000_000
REGIONS = ("CN-SH", "CN-BJ", "CN-GD-SZ", "CN-GD-GZ", "CN-GD-FS", "CN-ZJ-HZ", "CN-ZJ-NB", "CN-JS-NJ", "CN-SC-CD")
PREFIXES = ("CN-GD", "CN-ZJ", "CN-SH", "CN-JS-NJ", "CN-SC", "CN-XZ")  # CN-XZ: nothing listed there
SELLERS = ["0x" + f"{i:040x}" for i in range(1, 2001)]
SAMPLED = 50


def fill_listings(settings: Any, count: int, rng: random.Random, now: int) -> None:
    """Listings and deals straight into node.sqlite; sellers in the index (a few frozen); projects reviewed."""
    Store(settings.store_location).close()  # the store's schema
    rows = []
    for i in range(count):
        project = rng.randint(1, PROJECTS)
        state = rng.random()
        valid_from = now - rng.randint(1, 90) * 86_400 if state > 0.05 else now + rng.randint(1, 30) * 86_400
        valid_until = now + rng.randint(1, 180) * 86_400 if state < 0.95 else now - rng.randint(1, 30) * 86_400
        rows.append((
            rng.choice(SELLERS), (project << 32) | 1, rng.randint(1, 2_000) * T // 2,
            0 if rng.random() < 0.02 else rng.randint(1_000, 15_000), rng.choice((T // 2, T, 5 * T, 10 * T)),
            valid_from, valid_until, f"园林碳汇 {i}", "Verified urban green-space sink.", now - (count - i), project,
            rng.randint(2019, 2026), "0x" + "0b" * 20, rng.choice(REGIONS), rng.choice(PROJECT_KINDS),
            int(rng.random() < 0.03),
        ))  # fmt: skip
    with sqlite3.connect(settings.node_state_path) as db:
        db.executemany(
            "INSERT INTO listing (seller, batch_id, quantity, price_fen_per_tonne, min_lot, valid_from, valid_until,"
            " title, description, created_at, project_id, vintage, verifier, region, kind, withdrawn)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        # Deals holding part of one listing in ten (some of them all of it), in every state.
        deals = []
        for listing_id in rng.sample(range(1, count + 1), count // 10):
            quantity = rows[listing_id - 1][2]
            held = quantity if rng.random() < 0.2 else rng.randint(1, quantity)
            state = rng.choice((*RESERVING, "cancelled", "expired"))
            deals.append((listing_id, listing_id, rows[listing_id - 1][0], SELLERS[0], rows[listing_id - 1][1], held,
                          5_000, state, now))  # fmt: skip
        db.executemany(
            "INSERT INTO deal (listing_id, offer_id, seller, buyer, batch_id, quantity, price_fen_per_tonne, state,"
            " created_at) VALUES (?,?,?,?,?,?,?,?,?)",
            deals,
        )
        db.executemany(
            "INSERT INTO project_review (project_id, decision, reason, actor, at) VALUES (?, ?, '-', ?, ?)",
            [(p, "approved" if p % 40 else "rejected", REGULATOR, now) for p in range(1, PROJECTS + 1)],
        )
    with sqlite3.connect(settings.index_path) as db:
        db.executemany(
            "INSERT OR IGNORE INTO participant VALUES (?, 100, 0, ?, 1, 1)",
            [(seller, int(i % 300 == 0)) for i, seller in enumerate(SELLERS)],
        )
        db.execute("UPDATE batch SET status = 1 WHERE project_id % 50 = 0")  # a few frozen batches


def random_need(rng: random.Random, now: int) -> dict[str, Any]:
    params: dict[str, Any] = {"quantity": rng.choice((T // 2, 3 * T, 50 * T, 400 * T, 5_000 * T, 200_000 * T))}
    if rng.random() < 0.5:
        params["budget"] = f"{rng.randint(100, 5_000_000)}.{rng.randint(0, 99):02d}"
    if rng.random() < 0.3:
        params["max_price"] = f"{rng.randint(10, 160)}.00"
    if rng.random() < 0.6:
        params["region"] = rng.sample(PREFIXES + REGIONS, rng.randint(1, 2))
    if rng.random() < 0.5:
        params["kind"] = rng.sample(PROJECT_KINDS, rng.randint(1, 3))
    if rng.random() < 0.5:
        low = rng.randint(2019, 2026)
        params["vintage_from"], params["vintage_to"] = low, rng.randint(low, 2026)
    if rng.random() < 0.3:
        params["retire_by"] = now + rng.randint(1, 60) * 86_400 + 3_600
    orders = []
    for _ in range(rng.randint(1, 2)):
        criteria = rng.sample(ORDERS, rng.randint(1, 2))
        orders.append(",".join(("-" if rng.random() < 0.3 else "") + c for c in criteria))
    params["order"] = orders
    return params


def _open(row: sqlite3.Row, now: int, inactive: set[int], frozen: set[str], rejected: set[int]) -> bool:
    return (
        not row["withdrawn"]
        and row["valid_from"] <= now
        and row["batch_id"] not in inactive
        and row["seller"] not in frozen
        and row["project_id"] not in rejected
    )


def brute_force(settings: Any, params: dict[str, Any], now: int) -> dict[str, Any]:
    """The answer worked out from every row, without the node's SQL."""
    with sqlite3.connect(settings.index_path) as index:
        inactive = {r[0] for r in index.execute("SELECT id FROM batch WHERE status != 0")}
        frozen = {r[0] for r in index.execute("SELECT address FROM participant WHERE frozen = 1")}
    with sqlite3.connect(settings.node_state_path) as db:
        db.row_factory = sqlite3.Row
        held: dict[int, int] = {}
        for row in db.execute(f"SELECT listing_id, quantity FROM deal WHERE state IN {RESERVING}"):
            held[row["listing_id"]] = held.get(row["listing_id"], 0) + row["quantity"]
        rejected = {r[0] for r in db.execute("SELECT project_id FROM project_review WHERE decision != 'approved'")}
        offers = [
            offer_of({**dict(row), "available": row["quantity"] - held.get(row["id"], 0)})
            for row in db.execute("SELECT * FROM listing")
            if _open(row, now, inactive, frozen, rejected)
        ]
    need = Need(
        grams=params["quantity"],
        budget_fen=round(float(params["budget"]) * 100) if "budget" in params else None,
        regions=tuple(params.get("region", ())),
        vintage_from=params.get("vintage_from"),
        vintage_to=params.get("vintage_to"),
        kinds=tuple(params.get("kind", ())),
        retire_by=params.get("retire_by"),
        max_price_fen=round(float(params["max_price"]) * 100) if "max_price" in params else None,
    )
    orders = [[(c.removeprefix("-"), c.startswith("-")) for c in text.split(",")] for text in params["order"]]
    found = discover(need, offers, now, orders)
    return {
        "fitting": len(found.fitting),
        "fitting_quantity": found.fitting_grams,
        "first": [o.listing_id for o in found.fitting[:50]],
        "parts": [[(p.listing_id, p.grams) for p in c.parts] for c in found.combinations],
        "covers": [c.covers for c in found.combinations],
        "within_budget": [c.within_budget for c in found.combinations],
    }


def same(answer: dict[str, Any], expected: dict[str, Any]) -> bool:
    return (
        answer["fitting"] == expected["fitting"]
        and answer["fitting_quantity"] == expected["fitting_quantity"]
        and [item["id"] for item in answer["listings"]] == expected["first"]
        and [[(p["listing_id"], p["quantity"]) for p in c["parts"]] for c in answer["combinations"]]
        == expected["parts"]
        and [c["covers"] for c in answer["combinations"]] == expected["covers"]
        and [c["within_budget"] for c in answer["combinations"]] == expected["within_budget"]
    )


def answers_after_changes(settings: Any, client: httpx.Client, asked: list[dict[str, Any]], rng: random.Random,
                          now: int) -> tuple[list[float], int]:  # fmt: skip
    """Ten changes to the market (a deal taking all of a listing, a listing withdrawn), each followed by a need:
    the time of that answer (the node reads its listings again) and whether it still matches a brute force."""
    took: list[float] = []
    wrong = 0
    for round_ in range(10):
        params = asked[round_]
        first = client.get("/v1/discovery", params=params).json()["combinations"][0]["parts"]
        if not first:
            continue
        listing_id = first[0]["listing_id"]
        with sqlite3.connect(settings.node_state_path) as db:
            if round_ % 2:
                db.execute("UPDATE listing SET withdrawn = 1 WHERE id = ?", (listing_id,))
            else:
                db.execute(
                    "INSERT INTO deal (listing_id, offer_id, seller, buyer, batch_id, quantity, price_fen_per_tonne,"
                    " state, created_at) SELECT id, id, seller, ?, batch_id, quantity, 5000, 'accepted', ?"
                    " FROM listing WHERE id = ?",
                    (SELLERS[0], now, listing_id),
                )
        began = time.perf_counter()
        reply = client.get("/v1/discovery", params=params)
        took.append((time.perf_counter() - began) * 1000)
        answer = reply.json()
        wrong += not same(answer, brute_force(settings, params, now))
        wrong += any(p["listing_id"] == listing_id for c in answer["combinations"] for p in c["parts"])
    return took, wrong


STATEMENT_ORGANISATION = 42
STATEMENT_ACCOUNT = "0x" + "42" * 20


def statement_seconds(settings: Any, client: httpx.Client, now: int, rounds: int = 3) -> tuple[float, int]:
    """An organisation with 100 retirements in the index (three of its lines for checkout offsets, with 2,000
    leaves each); the time from asking for its statement over HTTP to holding the PDF (median of `rounds`),
    and the PDF's size."""
    with sqlite3.connect(settings.index_path) as db:
        db.execute("INSERT INTO participant VALUES (?, ?, 0, 0, 1, 1)", (STATEMENT_ACCOUNT, STATEMENT_ORGANISATION))
        db.executemany(
            "INSERT INTO retirement (id, batch_id, holder, amount, beneficiary, beneficiary_hash, reason,"
            " consumption_start, consumption_end, region, block_number, block_time, tx_hash)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [(10_000 + i, ((i % 40) + 1) << 32 | 1, STATEMENT_ACCOUNT, (i + 1) * 12_345, f"杭州某物流公司 {i}",
              "0x" + f"{i:064x}", "年度碳中和声明" if i % 3 else "配送碳中和", now - 200 * 86_400, now - 100 * 86_400,
              "CN-ZJ", 100 + i, now - 100 * 86_400, "0x" + f"{i + 1:064x}") for i in range(100)],
        )  # fmt: skip
    with sqlite3.connect(settings.node_state_path) as db:
        for i in range(3):
            root = "0x" + f"{i + 7:064x}"
            db.execute(
                "INSERT INTO offset_batch (root, account, orders, total_grams, retirements, created_at, state)"
                " VALUES (?, ?, 2000, 1, ?, ?, 'done')",
                (root, STATEMENT_ACCOUNT, f'[{{"retirement_id": {10_000 + i}}}]', now),
            )
            offset_id = db.execute("SELECT id FROM offset_batch WHERE root = ?", (root,)).fetchone()[0]
            db.executemany(
                "INSERT INTO offset_order (order_id, offset_id, leaf_index, grams, breakdown) VALUES (?,?,?,?,'{}')",
                [(f"STMT-{i}-{n:06d}", offset_id, n, 500 + n) for n in range(2000)],
            )
    store = Store(settings.node_state_path)
    token = store.create_token(key_name="buyer", account=STATEMENT_ACCOUNT, label="bench")
    store.close()
    headers = {"authorization": f"Bearer {token}"}
    took = []
    size = 0
    first, last = time.strftime("%Y-%m-%d", time.gmtime(now - 400 * 86_400)), time.strftime("%Y-%m-%d")
    for _ in range(rounds):
        began = time.perf_counter()
        asked = {"organisation": STATEMENT_ORGANISATION, "first_day": first, "last_day": last}
        issued = client.post("/v1/statements", headers=headers, json=asked)
        issued.raise_for_status()
        assert issued.json()["totals"]["retirements"] == 100, issued.json()["totals"]
        pdf = client.get(f"/v1/statements/{issued.json()['hash']}.pdf", headers=headers)
        pdf.raise_for_status()
        took.append(time.perf_counter() - began)
        size = len(pdf.content)
    return statistics.median(took), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 listings and 200 needs")
    args = parser.parse_args()
    listings, needs = (10_000, 200) if args.quick else (100_000, 1_000)
    rng = random.Random(23)
    now = int(time.time())
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        settings = load_settings(home=Path(tmp), api_port=port, rpc_url="http://127.0.0.1:9")
        began = time.perf_counter()
        fill_index(settings.index_path, 200_000, 40_000)
        fill_listings(settings, listings, rng, now)
        print(f"{listings} listings written in {time.perf_counter() - began:.1f}s")
        placeholder_manifest(settings.manifest_path)
        app = create_app(settings, run_indexer=False)
        asked = [random_need(rng, now) for _ in range(needs)]
        sampled = set(rng.sample(range(needs), min(SAMPLED, needs)))
        answers: dict[int, dict[str, Any]] = {}
        samples: list[float] = []
        with (
            served(app, port, timeout_s=60, log_level="warning"),
            httpx.Client(base_url=settings.base_url, timeout=60) as client,
        ):
            for warm in asked[:20]:
                client.get("/v1/discovery", params=warm).raise_for_status()
            for number, params in enumerate(asked):
                began = time.perf_counter()
                reply = client.get("/v1/discovery", params=params)
                samples.append((time.perf_counter() - began) * 1000)
                reply.raise_for_status()
                if number in sampled:
                    answers[number] = reply.json()
            wrong = sum(not same(answers[n], brute_force(settings, asked[n], now)) for n in sorted(answers))
            after_change, wrong_after_change = answers_after_changes(settings, client, asked, rng, now)
            statement_s, statement_bytes = statement_seconds(settings, client, now)
    p50, p99 = percentiles(samples)
    with_listings = sum(a["fitting"] > 0 for a in answers.values())
    covered = sum(a["combinations"][0]["covers"] for a in answers.values())
    print(
        f"p50 {p50:.1f} ms; of {len(answers)} sampled needs {with_listings} had fitting listings,"
        f" {covered} were covered"
    )
    print(f"a 100-retirement statement: {statement_s:.2f} s to the PDF ({statement_bytes:,} bytes)")
    print(f"an answer just after the market changed: median {statistics.median(after_change):.1f} ms"
          f" ({len(after_change)} changes, {wrong_after_change} wrong)")  # fmt: skip
    print(
        f"BENCH discovery needs={needs} p99_ms={p99:.1f} statement_pdf_s={statement_s:.2f}"
        f" wrong_answers={wrong + wrong_after_change} after_change_ms={statistics.median(after_change):.1f}"
    )


if __name__ == "__main__":
    main()
