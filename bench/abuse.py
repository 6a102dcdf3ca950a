"""`python -m bench.abuse`: a node under attack still serves its public pages.

A whole node (`sinknode up`, node.hostile.HostileNode) is read by a steady stream of public page requests
from 127.0.0.2 (the batch page, its JSON, the listings), first alone for QUIET_S seconds, then for ABUSE_S
seconds while two attackers on 127.0.0.1 send every hostile request of node.hostile in a loop (deep and
oversized bodies, oversized uploads, SQL meant to exhaust memory and time, dodged wording, expired offers,
impossible dates, control characters, an underfunded listing). The reader's address is exempted from the
rate limits explicitly (it must measure latency, not the limiter); the attackers' is not, unless
`--unlimited-attackers` (then every hostile request reaches its handler, as from many addresses).

Printed: `BENCH abuse requests= crashes= server_errors= reads_failed= max_rss_mb= read_p99_ms_under_abuse=
read_p99_ms_quiet=` (max_rss_mb summed over the node's processes, sampled every 0.2 s). Floors: crashes 0,
server_errors 0, reads_failed 0, max_rss_mb ≤ 600, read p99 under abuse ≤ 3× quiet. Exit status 1 when a
floor is missed.
"""

import argparse
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from node.hostile import HostileNode

QUIET_S = 20.0
ABUSE_S = 60.0
READ_INTERVAL_S = 0.05  # 20 reads a second
READER = "127.0.0.2"
ATTACKERS = 2


def p99(samples: list[float]) -> float:
    if len(samples) < 2:
        return samples[0] if samples else 0.0
    return statistics.quantiles(samples, n=100, method="inclusive")[98]


class Reader(threading.Thread):
    def __init__(self, node: HostileNode) -> None:
        super().__init__(daemon=True)
        self.node = node
        batch, listing = node.batch, node.listing
        self.paths = [f"/batches/{batch}", f"/v1/batches/{batch}", "/v1/listings", f"/listings/{listing}"]
        self.samples: dict[str, list[float]] = {"quiet": [], "abuse": []}
        self.failed: list[str] = []
        self.phase = "quiet"
        self.stop = threading.Event()

    def run(self) -> None:
        transport = httpx.HTTPTransport(local_address=READER)
        with httpx.Client(base_url=self.node.base, timeout=30, transport=transport) as http:
            turn = 0
            while not self.stop.is_set() and turn < 1_000_000:
                path = self.paths[turn % len(self.paths)]
                turn += 1
                began = time.perf_counter()
                try:
                    status = http.get(path).status_code
                except httpx.HTTPError as exc:
                    status, detail = 0, repr(exc)
                else:
                    detail = ""
                took = time.perf_counter() - began
                self.samples[self.phase].append(took * 1000)
                if status != 200:
                    self.failed.append(f"{path}: {status} {detail}")
                self.stop.wait(max(0.0, READ_INTERVAL_S - took))


class Attacker(threading.Thread):
    def __init__(self, node: HostileNode, until: float, offset: int) -> None:
        super().__init__(daemon=True)
        self.node = node
        self.until = until
        self.offset = offset
        self.requests = 0
        self.server_errors: list[str] = []
        self.statuses: Counter[int] = Counter()

    def run(self) -> None:
        probes = self.node.probes()
        with self.node.client(timeout=60) as local:
            turn = self.offset
            while time.monotonic() < self.until and turn < 1_000_000:
                probe = probes[turn % len(probes)]
                turn += 1
                try:
                    reply = self.node.send(local, probe)
                except httpx.HTTPError as exc:
                    # The node may drop an oversized body's connection once it has answered 413.
                    if not isinstance(exc, httpx.RemoteProtocolError | httpx.WriteError | httpx.ReadError):
                        self.server_errors.append(f"{probe.name}: {exc!r}")
                    self.requests += 1
                    continue
                self.requests += 1
                self.statuses[reply.status_code] += 1
                if reply.status_code >= 500:
                    self.server_errors.append(f"{probe.name}: {reply.status_code} {reply.text[:200]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quiet-s", type=float, default=QUIET_S)
    parser.add_argument("--abuse-s", type=float, default=ABUSE_S)
    parser.add_argument(
        "--unlimited-attackers",
        action="store_true",
        help="exempt the attackers' address from the rate limits too: every hostile request reaches its handler,"
        " as it would from an attacker with many addresses",
    )
    args = parser.parse_args()
    addresses = [READER, "127.0.0.1"] if args.unlimited_attackers else [READER]
    exempt = {"SINKNODE_RATE_LIMIT_EXEMPT": ",".join(addresses)}
    with tempfile.TemporaryDirectory(prefix="bench-abuse-") as work, HostileNode(Path(work), exempt) as node:
        rss: list[float] = [node.rss_mb()]
        reader = Reader(node)
        reader.start()
        time.sleep(args.quiet_s)
        reader.phase = "abuse"
        until = time.monotonic() + args.abuse_s
        attackers = [Attacker(node, until, offset) for offset in range(ATTACKERS)]
        for attacker in attackers:
            attacker.start()
        crashes = 0
        while time.monotonic() < until:
            rss.append(node.rss_mb())
            if node.process.died() is not None:
                crashes += 1
                break
            time.sleep(0.2)
        for attacker in attackers:
            attacker.join(timeout=120)
        reader.stop.set()
        reader.join(timeout=30)
        rss.append(node.rss_mb())
        if not node.alive():
            crashes = max(crashes, 1)
    requests = sum(a.requests for a in attackers)
    server_errors = [e for a in attackers for e in a.server_errors]
    quiet, abused = p99(reader.samples["quiet"]), p99(reader.samples["abuse"])
    print(
        f"BENCH abuse requests={requests} crashes={crashes} server_errors={len(server_errors)} "
        f"reads_failed={len(reader.failed)} max_rss_mb={max(rss):.0f} read_p99_ms_under_abuse={abused:.1f} "
        f"read_p99_ms_quiet={quiet:.1f}"
    )
    statuses = sum((a.statuses for a in attackers), Counter())
    print("   attackers' answers by status:", dict(sorted(statuses.items())))
    for line in (server_errors + reader.failed)[:20]:
        print("  ", line)
    floors = (
        crashes == 0 and not server_errors and not reader.failed and max(rss) <= 600 and abused <= 3 * max(quiet, 1.0)
    )
    sys.exit(0 if floors else 1)


if __name__ == "__main__":
    main()
