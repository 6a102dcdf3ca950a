"""The site's pages over real HTTP, on bench.api's index of 1,000,000 events and bench.market's 100,000
listings: p99 of the home page, a project page, a batch page with a long history, the buyers' listing
search over bench.market's query mix and the regulator's report page, beside a bare endpoint of the same
server; then axe-core in headless Chromium over each page kind, in both languages.

There is no chain behind this index (it is written straight into SQLite), so the two parts of a page that
ask the chain are replaced by fixed answers there: the batch page's re-check of its batch (three JSON-RPC
calls) and the report's reconciliation of every balance against the chain. The re-check is measured apart,
first, on a node with its chain (anvil, one issued batch): alone, and within that node's whole batch page.

    python -m bench.pages [--quick]
"""

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import sync_playwright

import node.api.routes.pages as page_routes
import node.projects.provenance as provenance
import node.supervision.reconcile as reconciliation
from bench.api import LONG_BATCH, REGULATOR, YEAR_START, fill_index, percentiles, placeholder_manifest, timed
from bench.market import fill_listings
from node.api.app import create_app
from node.chain.anvil import free_port
from node.devflows import issued_batch
from node.devnode import local_node, served
from node.index.queries import get_batch
from node.settings import PROJECT_ROOT, load_settings
from node.store import Store

PAGE = {"accept": "text/html"}
# bench.market's buyers' searches, as the form of /market sends them (blank fields are no filter).
SEARCHES = [
    {},
    {"sort": "price"},
    {"sort": "price", "descending": "true", "min_price": "60", "max_price": "90"},
    {"region": "CN-SH", "sort": "price"},
    {"kind": "park", "vintage": "2026", "sort": "quantity", "descending": "true"},
    {"verifier": "0x" + "0b" * 20, "min_tonnes": "500"},
]
AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def fill_retirements(path: Path, count: int) -> None:
    """Retirements of the long batch, so that the home page's latest retirements read a real table."""
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO retirement (id, batch_id, holder, amount, beneficiary, beneficiary_hash, reason,"
            " consumption_start, consumption_end, region, block_number, block_time, tx_hash)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (i, LONG_BATCH, "0x" + f"{i % 5000 + 1:040x}", 1_210 * i, f"受益方 {i}", "0x" + "00" * 32, "配送碳中和",
                 YEAR_START, YEAR_START + 86_400, "0x434e2d5a4a" + "00" * 11, 10 + i, YEAR_START + i,
                 "0x" + f"{i:064x}")
                for i in range(1, count + 1)
            ],
        )  # fmt: skip


def no_chain() -> None:
    """The fixed answers that stand for the chain (see the module's docstring)."""

    def checked(services: Any, batch: dict[str, Any]) -> dict[str, Any]:
        return {"block": 0, "status_on_chain": batch["status"], "exists_on_chain": True, "matches_index": True}

    page_routes.chain_check = provenance.chain_check = checked  # type: ignore[assignment]
    reconciliation.reconcile = lambda services, reader: {"checks": 0, "differences": []}  # type: ignore[assignment]


def chain_recheck(requests: int) -> tuple[list[float], list[float]]:
    """Measured apart, on a node with its chain (anvil, the registry deployed, one batch issued): the batch
    page's re-check against the chain alone (`chain_check`, three JSON-RPC calls) and the whole batch page
    with it, in ms."""
    with tempfile.TemporaryDirectory() as tmp, local_node(Path(tmp), rate_limit_exempt=["127.0.0.1"]) as node:
        _, batch = issued_batch(node)
        services = node.app.state.services
        reader = services.reader()
        try:
            record = get_batch(connection=reader, batch_id=batch)
        finally:
            reader.close()
        assert record is not None
        alone = []
        for _ in range(requests + 5):
            began = time.perf_counter()
            assert provenance.chain_check(services, record)["matches_index"]
            alone.append((time.perf_counter() - began) * 1000)
        with httpx.Client(base_url=node.url, timeout=60, headers=PAGE) as client:
            whole = timed(client, f"/batches/{batch}", requests)
    return alone[5:], whole


def accessibility(base: str, paths: list[str]) -> int:
    """Serious and critical axe-core violations over the pages, in both languages."""
    source = AXE.read_text(encoding="utf-8")
    found = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True).new_page()
            for path in paths:
                for lang in ("zh", "en"):
                    page.goto(f"{base}{path}{'&' if '?' in path else '?'}lang={lang}")
                    page.evaluate(source)
                    impacts = page.evaluate("async () => (await axe.run(document)).violations.map(v => v.impact)")
                    found += sum(1 for impact in impacts if impact in ("serious", "critical"))
        finally:
            browser.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 events, 10,000 listings, fewer requests")
    args = parser.parse_args()
    events, listings, requests = (100_000, 10_000, 40) if args.quick else (1_000_000, 100_000, 200)
    recheck, with_chain = chain_recheck(requests)
    no_chain()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        settings = load_settings(
            home=Path(tmp), api_port=port, rpc_url="http://127.0.0.1:9", rate_limit_exempt=["127.0.0.1"]
        )
        began = time.perf_counter()
        fill_index(settings.index_path, events, events // 5)
        fill_listings(settings, listings)
        fill_retirements(settings.index_path, 10_000)
        print(f"index of {events} events, {listings} listings written in {time.perf_counter() - began:.1f}s")
        placeholder_manifest(settings.manifest_path)
        state = Store(settings.store_location)
        token = state.create_token(key_name="regulator", account=REGULATOR, label="bench")
        state.close()
        with (
            served(create_app(settings, run_indexer=False), port, timeout_s=60, log_level="warning"),
            httpx.Client(base_url=settings.base_url, timeout=60, headers=PAGE) as client,
        ):
            bare = timed(client, "/healthz", requests)
            home = timed(client, "/", requests)
            project = timed(client, "/projects/1", requests)
            batch = timed(client, f"/batches/{LONG_BATCH}", requests)
            search: list[float] = []
            for params in SEARCHES:
                search += timed(client, "/market", max(requests // len(SEARCHES), 5), params=params)
            report = timed(
                client, "/regulator/report", max(requests // 4, 5), headers={"authorization": f"Bearer {token}"}
            )
            violations = accessibility(settings.base_url, ["/", "/projects/1", f"/batches/{LONG_BATCH}", "/market",
                                                           "/registry", "/listings/1"])  # fmt: skip
    figures = {name: percentiles(samples) for name, samples in
               (("home", home), ("project", project), ("batch", batch), ("search", search), ("report", report),
                ("bare", bare), ("chain_recheck", recheck), ("small_batch_with_chain", with_chain))}  # fmt: skip
    print(
        "BENCH pages "
        + " ".join(f"{name}_p99_ms={p99:.1f}" for name, (_, p99) in figures.items())
        + f" a11y_violations={violations} "
        + " ".join(f"{name}_p50_ms={p50:.1f}" for name, (p50, _) in figures.items())
        + f" events={events} listings={listings}"
    )


if __name__ == "__main__":
    main()
