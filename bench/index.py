"""Indexing throughput: a chain holding ≥ 100,000 certificate events, indexed into a fresh index (SQLite, or
PostgreSQL with --database postgresql) with all derived state, against a ceiling measured in the same run:
fetching and decoding the same logs with no database, just before each indexing round (five pairs; the pair
with the median ratio is reported).

    python -m bench.index [--quick] [--database postgresql]
"""

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

from node.chain.anvil import AnvilConfig, AnvilProcess, anvil_binary, free_port
from node.chain.build import compile_contracts
from node.chain.devnet import DevNetwork, start_devnet
from node.chain.rpc import RpcClient
from node.devpg import postgres_cluster
from node.index.decode import EventDecoder
from node.index.fetch import LogFetcher
from node.index.follower import Indexer, fewer_collections
from node.settings import load_settings

TRANSFERS_PER_TX = 1000
RETIREMENTS_PER_TX = 500


def build_chain(net: DevNetwork, events: int) -> int:
    """Issues a batch, spreads it over three holders, then churns transfers and retirements."""
    reg, s = net.registry, net.senders
    batch = net.issue_batch(10**15, b"\x0e" * 32)
    ring = [net.address(n) for n in ("owner", "buyer", "buyer2")]
    for name in ("buyer", "buyer2"):
        reg.transfer(s["owner"], batch, net.address(name), 10**12)
    made = 0
    while made < events:
        if made % (10 * TRANSFERS_PER_TX) < TRANSFERS_PER_TX:
            reg.send(s["admin"], "churnRetirements", batch, ring, RETIREMENTS_PER_TX, gas=25_000_000)
            made += RETIREMENTS_PER_TX
        reg.send(s["admin"], "churnTransfers", batch, ring, TRANSFERS_PER_TX, made.to_bytes(32, "big"), gas=25_000_000)
        made += TRANSFERS_PER_TX
    return made


def ceiling(net: DevNetwork, first: int, last: int) -> tuple[int, float]:
    """Fetch and decode every log of the range as the indexer does (with the collector set as the indexer sets
    it), keeping nothing."""
    rpc = RpcClient(net.rpc.url)
    fetcher = LogFetcher(rpc, net.manifest.registry.address, max_range=500)
    decoder = EventDecoder(net.registry.abi)
    began, count, start = time.perf_counter(), 0, first
    with fewer_collections():
        while start <= last:
            fetched = fetcher.fetch(start, last)
            count += sum(1 for log in fetched.logs if decoder.decode(log) is not None)
            start = fetched.end + 1
    rpc.close()
    return count, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 events instead of 100,000")
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="where the index goes (postgresql: a throwaway cluster, a new database per round)",
    )
    args = parser.parse_args()
    target = 20_000 if args.quick else 100_000
    settings = load_settings()
    build = compile_contracts(settings)
    config = AnvilConfig(binary=anvil_binary(settings.project_root), port=free_port(),
                         extra_args=["--gas-limit", "60000000"])  # fmt: skip
    with contextlib.ExitStack() as stack:
        anvil = stack.enter_context(AnvilProcess(config))
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        cluster = stack.enter_context(postgres_cluster()) if args.database == "postgresql" else None
        rpc = RpcClient(anvil.url)
        net = start_devnet(rpc, build, contract="SinkRegistryHarness")
        began = time.perf_counter()
        build_chain(net, target)
        print(f"chain built in {time.perf_counter() - began:.1f}s", file=sys.stderr)
        head = rpc.block_number()
        deploy = net.manifest.registry.deploy_block

        # Rounds are pairs, the ceiling then the index, back to back: this machine's speed drifts by a fifth
        # within minutes, so each index run is set against the ceiling measured just before it, and the
        # medians are reported (with the spread of the ratios).
        rounds: list[tuple[float, float, int, int, int, dict[str, float]]] = []
        for round_ in range(1 if args.quick else 5):
            count, seconds = ceiling(net, deploy, head)
            ceiling_rate = count / seconds
            location = cluster.create_database("bench_index") if cluster else Path(tmp) / f"index{round_}.sqlite"
            indexer = Indexer(anvil.url, net.manifest, location)
            began = time.perf_counter()
            checkpoint = indexer.sync()
            seconds = time.perf_counter() - began
            calls = indexer.rpc.rpc_calls + indexer.fetch_rpc.rpc_calls
            requests = indexer.rpc.http_requests + indexer.fetch_rpc.http_requests
            rate = checkpoint.event_count / seconds
            rounds.append((rate / ceiling_rate, rate, checkpoint.event_count, calls, requests, dict(indexer.timings)))
            indexer.close()
            print(f"round {round_}: ceiling {ceiling_rate:.0f}/s, index {rate:.0f}/s, ratio {rate / ceiling_rate:.2f}",
                  file=sys.stderr)  # fmt: skip
        ratios = sorted(r[0] for r in rounds)
        ratio, rate, events, calls, requests, timings = sorted(rounds)[len(rounds) // 2]  # the median pair
        split = " ".join(f"{k}_s={v:.2f}" for k, v in timings.items())
        print(
            f"BENCH index events={events} events_per_s={rate:.0f} ceiling_events_per_s={rate / ratio:.0f}"
            f" ceiling_ratio={ratio:.2f} ratio_min={ratios[0]:.2f} ratio_max={ratios[-1]:.2f}"
            f" rpc_calls_per_1000_events={1000 * calls / events:.2f}"
            f" http_requests_per_1000_events={1000 * requests / events:.2f} {split} database={args.database}"
        )
        rpc.close()


if __name__ == "__main__":
    main()
