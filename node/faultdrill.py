"""A fault drill for the exactly-once write path, shared by `python -m bench.faults` and
tests/integration/test_faults.py (a dev helper like node.devnode: nothing in the product imports it).

It runs a whole node as its users do, `sinknode up --no-demo`, as a subprocess in a home of its own (free
loopback ports, a keystore password in its environment, the default settings otherwise: the caller's
SINKNODE_* variables are not passed on), gives it the demo cast registered through the API, and drives it
with three writer threads:
- transfers (park → buyer, each with a deal reference of its own);
- retirements (buyer, each for a beneficiary of its own) and checkout offsets (platform, orders of their own);
- deal flows: list → four offers on three lots → accept each → custodian receipt → deliver, every fourth
  flow first registering and issuing a fresh batch and listing a bundle of it and the first batch.
Every request carries an `Idempotency-Key`; one that gets no answer, a connection error, a 5xx, a 202 or
`request_in_progress` is sent again with its key until it gets a final answer (or its time runs out); some
are sent again on purpose once answered, or twice at once, and must get the same answer.

Meanwhile it kills, at random moments, the node's processes (`up` itself: its anvil is orphaned and the next
`up`, started by the drill, takes it over; or its rule process; or both) or its chain (anvil: `up` restarts
it from its state file, which anvil rewrites every 5 s of its life, so the chain loses its last blocks, more
when it dies again before its first save, and the node must re-send them).
Recovery is the time from a kill to the first write answered 2xx that was sent after it and sent a
transaction (an off-chain step such as an offer succeeds with the chain down).

Then it audits every acknowledged write (answered 2xx, or a 202 whose intent settled done) against the
chain read directly over JSON-RPC (receipts and the registry's logs): on chain exactly once, with the ids it
was answered with; no id answered to two requests; no deal delivered twice; no listing sold beyond its
quantity; and the node's index equal to a clean re-index of the same chain.
"""

import contextlib
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from node.chain.abi import ContractAbi
from node.chain.anvil import free_port
from node.chain.keystore import Keystore
from node.chain.manifest import DeploymentManifest, load_manifest
from node.chain.rpc import RpcClient
from node.demo import CAST, prepare_participants
from node.devflows import custodian, custody_signature, deposit, issued_batch, monitoring_report
from node.devnode import LocalNode, register_cast
from node.index.db import open_reader
from node.index.follower import Indexer
from node.index.queries import dump_index
from node.projects.issuance import report_statement_period
from node.settings import PROJECT_ROOT, Settings, load_settings
from node.store import Store
from registry.units import deal_total_fen

KILL_KINDS = ("node", "rules", "node+rules", "chain")
NODE_KINDS = ("node", "node+rules")
# The writes that send a transaction: recovery counts only these (a listing or an offer needs no chain).
CHAIN_WRITES = ("transfer", "retire", "offset", "project", "issue", "deliver")
PASSWORD = "fault-drill-keystore-password"
LOT = 1_000_000  # 1 t: a deal flow lists three lots and receives four offers of one
PRICE, PRICE_FEN = "58.00", 5_800
RESERVING = ("accepted", "paid", "delivering", "delivered", "disputed")
# The 5xx answers a node may give under faults; any other is a finding.
EXPECTED_5XX = {(503, "chain_unavailable"), (500, "internal_error")}
DAY = 86_400


class DrillError(RuntimeError):
    """The drill itself could not go on (the node never came up, setup failed)."""


class NodeDied(DrillError):
    """The node's `up` exited by itself: nothing more can be written or audited."""


@dataclass
class DrillConfig:
    rounds: int
    kinds: tuple[str, ...] = KILL_KINDS  # used in turn, in an order shuffled by the seed
    seed: int = 20261127
    gap_s: tuple[float, float] = (1.0, 3.5)  # writing time before each kill, drawn uniformly
    recovery_timeout_s: float = 45.0  # a kill not followed by a 2xx write within this is a failure
    write_budget_s: float = 60.0  # how long one request is retried with its key
    drain_s: float = 90.0  # after the last round: writers finish, unanswered keys are asked again
    replay_share: float = 0.12  # answered requests sent again with the same key
    twin_share: float = 0.05  # requests sent twice at once with the same key

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(KILL_KINDS)
        if unknown or not self.kinds or self.rounds < 1:
            raise ValueError(f"kinds among {KILL_KINDS}, at least one round: {self.kinds}, {self.rounds}")


@dataclass
class Kill:
    round: int
    kind: str
    at: float = 0.0  # time.monotonic() just before the signal
    pids: list[int] = field(default_factory=list)
    recovery_s: float | None = None


@dataclass
class Write:
    """One request under one Idempotency-Key, with every attempt's outcome and its final answer."""

    seq: int
    kind: str
    who: str
    method: str
    path: str
    body: dict[str, Any] | None
    key: str
    marker: str | None = None  # what names its effect on chain (a deal ref, a beneficiary, a root ...)
    status: int | None = None  # the final status (never 202: a 202 is asked again)
    answer: Any = None
    replayed: bool = False
    intent_id: int | None = None
    trail: list[str] = field(default_factory=list)
    twin_of: int | None = None
    deal_id: int | None = None

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def code(self) -> str | None:
        if isinstance(self.answer, dict) and isinstance(self.answer.get("error"), dict):
            return str(self.answer["error"].get("code"))
        return None


@dataclass
class DrillReport:
    rounds: int
    kills: list[Kill]
    writes: int
    acknowledged: int
    lost: list[str]
    duplicated: list[str]
    oversold: list[str]
    reused_ids: list[str]
    index_equal: bool
    problems: list[str]  # everything else the drill found wrong (unexpected 5xx, replays that differ ...)
    server_errors: Counter[str]
    node_starts: int
    up_refusals: list[str]  # an `up` started after a kill that refused its own orphaned chain (started again)
    seconds: float
    node_died: str | None = None  # `up` exited by itself (its last words): the rounds stopped, no audit
    # Writes without an intent (accepts, receipts) applied by a request a kill cut short, whose retry under the
    # same key was refused (409) although the write had happened: a finding, not a floor.
    applied_refused: list[str] = field(default_factory=list)

    @property
    def recovery_s_max(self) -> float:
        times = [k.recovery_s for k in self.kills]
        return float("inf") if any(t is None for t in times) else max((t for t in times if t is not None), default=0)

    def floors_met(self, max_recovery_s: float = 15.0) -> bool:
        return (
            not (self.lost or self.duplicated or self.oversold or self.reused_ids or self.problems)
            and self.node_died is None
            and self.index_equal
            and self.recovery_s_max <= max_recovery_s
        )

    def bench_line(self) -> str:
        kinds = Counter(k.kind for k in self.kills)
        return (
            f"BENCH faults rounds={self.rounds} acknowledged={self.acknowledged} lost={len(self.lost)} "
            f"duplicated={len(self.duplicated)} oversold={len(self.oversold)} reused_ids={len(self.reused_ids)} "
            f"recovery_s_max={self.recovery_s_max:.1f} writes={self.writes} "
            f"kills={','.join(f'{k}:{n}' for k, n in sorted(kinds.items()))} "
            f"index_equal={int(self.index_equal)} problems={len(self.problems)} "
            f"server_errors={sum(self.server_errors.values())} up_refused={len(self.up_refusals)} "
            f"applied_refused={len(self.applied_refused)}" + (" node_died=1 audited=0" if self.node_died else "")
        )

    def summary(self) -> str:
        lines = [self.bench_line()]
        if self.node_died:
            lines.append(f"  the node exited by itself after round {len(self.kills)}: {self.node_died}")
        for kill in self.kills:
            took = "never" if kill.recovery_s is None else f"{kill.recovery_s:.2f} s"
            lines.append(f"  round {kill.round}: kill -9 {kill.kind} (pids {kill.pids}), first 2xx write after {took}")
        for title, items in (("lost", self.lost), ("duplicated", self.duplicated), ("oversold", self.oversold),
                             ("reused ids", self.reused_ids), ("problems", self.problems)):  # fmt: skip
            lines += [f"  {title}: {item}" for item in items[:20]]
        if self.server_errors:
            lines.append(f"  5xx answers: {dict(self.server_errors)}")
        lines += [f"  applied, yet refused on retry: {item}" for item in self.applied_refused[:10]]
        if self.up_refusals:
            lines.append(f"  `up` refused its own orphaned chain {len(self.up_refusals)} times (started again): "
                         f"{self.up_refusals[0]}")  # fmt: skip
        return "\n".join(lines)


# processes ------------------------------------------------------------------------------------------
def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the command name: state, ppid, pgrp, session, ..."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return not _alive(pid)


def children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _session_members(sid: int) -> list[int]:
    """Live processes of the session (and process group) `sid` that the drill started with a new session."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and fields[0] not in ("Z", "X") and int(fields[2]) == sid == int(fields[3]):
                members.append(int(entry.name))
    return members


class NodeProcess:
    """`sinknode up --no-demo` as a child in a session of its own (its anvil and rule process join that
    session's process group, even once it is killed), restarted by the drill after a kill, and every
    session it started stopped by PID at the end."""

    def __init__(self, env: dict[str, str], home: Path, logs: Path) -> None:
        self.env = env
        self.home = home
        self.logs = logs
        self.base = f"http://127.0.0.1:{env['SINKNODE_API_PORT']}"
        self.process: subprocess.Popen[bytes] | None = None
        self.started: list[subprocess.Popen[bytes]] = []
        self.refusals: list[str] = []  # `up` refusing its own orphaned chain (see `start`)
        self.log_path: Path | None = None
        sinknode = Path(sys.executable).with_name("sinknode")
        self.command = [str(sinknode)] if sinknode.exists() else [sys.executable, "-m", "node.cli"]

    def start(self, timeout_s: float = 120.0) -> float:
        """Starts `up` and waits until its API answers `/v1/status`; returns the seconds that took.

        An `up` that refuses the chain a killed `up` left, as not its own, is started again (as an operator
        would), at most twice, once nothing answers on the chain's port any more; each time is counted in
        `refusals`. (node/chain/anvil.py takes the orphan for gone once its main thread has exited, while
        its other threads still hold the listening socket for some tens of milliseconds.)"""
        began = time.monotonic()
        for attempt in range(3):
            log_path = self.log_path = self.logs / f"up-{len(self.started) + 1}.log"
            with open(log_path, "wb") as log:
                self.process = subprocess.Popen(
                    [*self.command, "up", "--no-demo"], env=self.env, cwd=PROJECT_ROOT, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
            self.started.append(self.process)
            deadline = began + timeout_s
            with httpx.Client(timeout=2.0) as http:
                while time.monotonic() < deadline and self.process.poll() is None:
                    with contextlib.suppress(httpx.HTTPError):
                        if http.get(f"{self.base}/v1/status").status_code == 200:
                            return time.monotonic() - began
                    time.sleep(0.1)
            tail = log_path.read_text(errors="replace")[-3000:]
            if self.process.poll() is None or "not this node's chain" not in tail or attempt == 2:
                break
            self.refusals.append(tail.strip().splitlines()[-1][:300])
            port_free = time.monotonic() + 10
            while time.monotonic() < port_free and _answers(int(self.env["SINKNODE_ANVIL_PORT"])):
                time.sleep(0.05)
        raise DrillError(f"`sinknode up` did not answer within {timeout_s:.0f}s (exit {self.process.poll()}):\n{tail}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def anvil_pid(self) -> int | None:
        try:
            return int(json.loads((self.home / "chain" / "anvil.pid").read_text())["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def rule_pid(self) -> int | None:
        """The rule process: the child of `up` that multiprocessing spawned (not its resource tracker)."""
        for child in children(self.pid):
            line = _cmdline(child)
            if "multiprocessing" in line and "resource_tracker" not in line:
                return child
        return None

    def died(self) -> str | None:
        """None while `up` runs; else the last line it wrote."""
        if self.process is None or self.process.poll() is None:
            return None
        text = self.log_path.read_text(errors="replace").strip() if self.log_path else ""
        return f"exit {self.process.returncode}: " + (text.splitlines()[-1][:500] if text else "(no output)")

    def kill_up(self) -> int:
        assert self.process is not None
        pid = self.process.pid
        self.process.kill()
        self.process.wait(timeout=10)
        return pid

    def stop(self) -> bool:
        """As Ctrl-C would; True if it exited cleanly."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return False
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=60) == 0
        except subprocess.TimeoutExpired:
            return False

    def close(self) -> None:
        """Kills whatever is left of every session it started (an `up`, an orphaned anvil, a rule process)."""
        for process in self.started:
            if process.poll() is None:
                process.kill()
            for pid in _session_members(process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)


def child_node(home: Path, logs: Path, password: str, extra_env: dict[str, str]) -> tuple[NodeProcess, Settings]:
    """A `NodeProcess` in `home` on free loopback ports with a keystore password in its environment, the
    default settings otherwise (the caller's SINKNODE_* variables are not passed on) but for `extra_env`, and
    the settings a client of it reads the same home with."""
    anvil_port, api_port = free_port(), free_port()
    build_cache = PROJECT_ROOT / "build" / "test-home" / "build"
    overrides = {
        "SINKNODE_HOME": str(home),
        "SINKNODE_ANVIL_PORT": str(anvil_port),
        "SINKNODE_API_PORT": str(api_port),
        "SINKNODE_KEYSTORE_PASSWORD": password,
        "SINKNODE_KEYSTORE_SCRYPT_N": "1024",
        "SINKNODE_BUILD_CACHE_DIR": str(build_cache),
        **extra_env,
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("SINKNODE_")}
    settings = load_settings(
        home=home, anvil_port=anvil_port, api_port=api_port, keystore_password=password, keystore_scrypt_n=1024,
        build_cache_dir=build_cache, rpc_url=None,
    )  # fmt: skip
    return NodeProcess({**env, **overrides}, home, logs), settings


# the chain, read directly ---------------------------------------------------------------------------
@dataclass
class ChainFacts:
    head: int
    by_marker: dict[str, list[dict[str, Any]]]  # what names a write's effect → the events carrying it


def _markers(name: str, args: dict[str, Any]) -> list[str]:
    found = []
    if name == "CertificateTransferred" and args["dealRef"] != bytes(32):
        found.append("ref:0x" + args["dealRef"].hex())
    elif name == "CertificateRetired":
        if args["beneficiary"]:
            found.append("beneficiary:" + args["beneficiary"])
        if args["beneficiaryHash"] != bytes(32):
            found.append("root:0x" + args["beneficiaryHash"].hex())
    elif name == "ProjectRegistered":
        found.append("meta:0x" + args["metadataHash"].hex())
    elif name == "BatchIssued":
        found.append("evidence:0x" + args["evidenceRoot"].hex())
    return found


def read_chain(rpc: RpcClient, manifest: DeploymentManifest, span: int = 2_000) -> ChainFacts:
    """Every registry event from the deploy block to the head, decoded with the manifest's ABI."""
    abi = ContractAbi(manifest.registry.abi)
    head = rpc.block_number()
    by_marker: dict[str, list[dict[str, Any]]] = {}
    for start in range(manifest.registry.deploy_block, head + 1, span):
        logs = rpc.call("eth_getLogs", {"address": manifest.registry.address, "fromBlock": hex(start),
                                        "toBlock": hex(min(start + span - 1, head))})  # fmt: skip
        for log in logs:
            topics = [bytes.fromhex(t[2:]) for t in log["topics"]]
            codec = abi.events.get(topics[0])
            if codec is None:
                continue
            args = codec.decode(topics, bytes.fromhex(log["data"][2:]))
            event = {"name": codec.name, "args": args, "tx": log["transactionHash"].lower(),
                     "block": int(log["blockNumber"], 16)}  # fmt: skip
            for marker in _markers(codec.name, args):
                by_marker.setdefault(marker, []).append(event)
    return ChainFacts(head, by_marker)


# the drill -----------------------------------------------------------------------------------------
class _StatusCache:
    """What node.devflows.custody_signature asks a node for (its chain id and registry), answered from
    memory, so that a custodian can sign while the node is down."""

    def __init__(self, status: dict[str, Any]) -> None:
        self.status = status

    def ok(self, method: str, path: str, who: str | None = None, **kwargs: Any) -> Any:
        assert (method, path) == ("GET", "/v1/status"), (method, path)
        return self.status


class Drill:
    def __init__(self, workdir: Path, config: DrillConfig, say: Callable[[str], None] = print) -> None:
        self.workdir = workdir
        self.config = config
        self.say = say
        self.rng = random.Random(config.seed)
        self.home = workdir / "home"
        logs = workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        # The writers' throughput is what is measured: their address is exempt from the rate limits.
        self.node, self.settings = child_node(
            self.home, logs, PASSWORD, {"SINKNODE_RATE_LIMIT_EXEMPT": '["127.0.0.1"]'}
        )
        self.base = self.node.base
        self.tokens: dict[str, str] = {}
        self.addresses: dict[str, str] = {}
        self.batch = 0
        self.signer: Any = None
        self.status_cache: _StatusCache | None = None
        self.kills: list[Kill] = []
        self.writes: list[Write] = []
        self.problems: list[str] = []
        self.server_errors: Counter[str] = Counter()
        self.listings: dict[int, int] = {}  # listing id → quantity, as answered
        self.applied_refused: list[str] = []  # see note_applied_refused
        self._lock = threading.Lock()
        self._seq = 0
        self._pending: Kill | None = None
        self._recovered = threading.Event()
        self.stop_writers = threading.Event()
        self.hard_stop = 0.0  # time.monotonic() after which no request is sent again
        self.died: str | None = None
        self._began = time.monotonic()

    # setup ---------------------------------------------------------------------------------------
    def setup(self) -> None:
        took = self.node.start()
        self.say(f"node up in {took:.1f} s at {self.base} (home {self.home})")
        state = Store(self.settings.store_location)
        try:
            self.tokens = prepare_participants(self.settings, state)
        finally:
            state.close()
        keystore = Keystore.from_settings(self.settings)
        self.addresses = {name: keystore.address(name).lower() for name in CAST}
        with httpx.Client(base_url=self.base, timeout=120) as http:
            local = LocalNode(self.settings, self.base, self.tokens, self.addresses, http)
            register_cast(local)
            self.signer = custodian(local)
            reply = deposit(local, "park")
            if reply.status_code != 201:
                raise DrillError(f"deposit: {reply.status_code} {reply.text[:300]}")
            _, self.batch = issued_batch(local)
            for name in ("buyer", "platform"):
                body = {"batch_id": self.batch, "to": self.addresses[name], "amount": 300_000_000,
                        "deal_ref": "0x" + os.urandom(32).hex()}  # fmt: skip
                local.ok("POST", "/v1/transfers", "park", json=body)
            self.status_cache = _StatusCache(local.ok("GET", "/v1/status"))
        # A chain killed before anvil saved its state would lose what no journal holds (the deployment, the
        # cast's funding): the rounds start once a state dump holds the setup.
        done = time.time()
        state_file = self.home / "chain" / "state.json"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (state_file.exists() and state_file.stat().st_mtime > done + 0.5):
            time.sleep(0.2)
        self.say(f"setup done: batch {self.batch}, cast registered, deposit and custodian recorded")

    # recording -----------------------------------------------------------------------------------
    def new_write(self, kind: str, who: str, method: str, path: str, body: dict[str, Any] | None = None,
                  marker: str | None = None) -> Write:  # fmt: skip
        with self._lock:
            self._seq += 1
            write = Write(self._seq, kind, who, method, path, body, uuid.uuid4().hex, marker)
            self.writes.append(write)
            return write

    def note_success(self, sent_at: float, answered_at: float) -> None:
        with self._lock:
            kill = self._pending
            if kill is not None and kill.recovery_s is None and sent_at >= kill.at:
                kill.recovery_s = answered_at - kill.at
                self._recovered.set()

    def note_server_error(self, write: Write, status: int, code: str | None) -> None:
        with self._lock:
            self.server_errors[f"{status}:{code}"] += 1
            if (status, code) not in EXPECTED_5XX:
                self.problems.append(f"unexpected {status} {code} to {write.kind} {write.method} {write.path}")

    def note_applied_refused(self, write: Write, state: str) -> None:
        """A write without an intent (an accept, a receipt) that a kill cut short after it was applied, and
        before its answer was kept under its key, whose retry was refused as if it had not happened (the node
        answers such a retry 409 `request_applied`, which is not counted here)."""
        with self._lock:
            self.applied_refused.append(
                f"{write.kind} {write.path} answered {write.status} {write.code()}, yet {state}"
            )

    def problem(self, text: str) -> None:
        with self._lock:
            self.problems.append(text)

    # one request, until it has a final answer ----------------------------------------------------
    def perform(self, http: httpx.Client, write: Write, budget_s: float | None = None) -> bool:
        """Sends `write` with its key until a final answer: anything but a connection error, a 5xx that is
        not the key's stored answer, a 202 or `request_in_progress`. False if its time ran out first."""
        deadline = min(time.monotonic() + (budget_s or self.config.write_budget_s), self.hard_stop or 1e18)
        headers = {"authorization": f"Bearer {self.tokens[write.who]}", "idempotency-key": write.key}
        content = b""
        if write.body is not None:
            content = orjson.dumps(write.body)
            headers["content-type"] = "application/json"
        pause = 0.1
        while time.monotonic() < deadline:
            sent = time.monotonic()
            try:
                reply = http.request(write.method, write.path, headers=headers, content=content)
            except httpx.HTTPError as error:
                write.trail.append(type(error).__name__)
                time.sleep(pause)
                pause = min(pause * 2, 1.0)
                continue
            try:
                body = reply.json()
            except ValueError:
                body = reply.text
            status, replayed = reply.status_code, reply.headers.get("idempotent-replayed") == "true"
            code = body["error"].get("code") if isinstance(body, dict) and isinstance(body.get("error"), dict) else None
            write.trail.append(f"{status}{'r' if replayed else ''}")
            if status == 202:
                write.intent_id = int(body["intent_id"])
                time.sleep(0.3)
                continue
            if status == 409 and code == "request_in_progress":
                time.sleep(0.2)
                continue
            if status >= 500:
                self.note_server_error(write, status, code)
                if not replayed:
                    time.sleep(pause)
                    pause = min(pause * 2, 1.0)
                    continue
                # The key's stored answer is this error: its write failed and nothing was done under it.
            write.status, write.answer, write.replayed = status, body, replayed
            if 200 <= status < 300 and not replayed and write.kind in CHAIN_WRITES:
                self.note_success(sent, time.monotonic())
            return True
        return False

    def send(self, http: httpx.Client, rng: random.Random, write: Write) -> bool:
        """`perform`, sometimes with a twin (the same key at once) and sometimes sent again once answered;
        both must get the same answer."""
        twin: Write | None = None
        twin_thread: threading.Thread | None = None
        if rng.random() < self.config.twin_share:
            twin = self.new_write(write.kind, write.who, write.method, write.path, write.body, write.marker)
            twin.key, twin.twin_of, twin.deal_id = write.key, write.seq, write.deal_id

            def run_twin() -> None:
                with httpx.Client(base_url=self.base, timeout=httpx.Timeout(40.0, connect=2.0)) as other:
                    self.perform(other, twin)

            twin_thread = threading.Thread(target=run_twin, name="twin", daemon=True)
            twin_thread.start()
        done = self.perform(http, write)
        if twin_thread is not None and twin is not None:
            twin_thread.join(timeout=self.config.write_budget_s + 5)
            if done and twin.status is not None:
                self._compare(write, twin, "twin")
        if done and write.status is not None and write.status < 500 and rng.random() < self.config.replay_share:
            again = Write(0, write.kind, write.who, write.method, write.path, write.body, write.key, write.marker)
            if self.perform(http, again) and again.status is not None:
                if not again.replayed:
                    self.problem(f"{write.kind} {write.path}: sent again with its key, it ran again ({again.trail})")
                self._compare(write, again, "replay")
        return done

    def _compare(self, first: Write, second: Write, how: str) -> None:
        if first.status != second.status or _ids(first) != _ids(second):
            self.problem(f"{how} of {first.kind} {first.path} answered {second.status} {_ids(second)} "
                         f"where the first got {first.status} {_ids(first)}")  # fmt: skip

    # writers -------------------------------------------------------------------------------------
    def writer(self, name: str, work: Callable[[httpx.Client, random.Random, int], None]) -> threading.Thread:
        rng = random.Random(f"{self.config.seed}-{name}")

        def run() -> None:
            with httpx.Client(base_url=self.base, timeout=httpx.Timeout(40.0, connect=2.0)) as http:
                n = 0
                while not self.stop_writers.is_set() and time.monotonic() < self.hard_stop:
                    try:
                        work(http, rng, n)
                    except Exception as error:  # a writer's own bug must show, not hang the drill
                        self.problem(f"writer {name} failed: {type(error).__name__}: {error}")
                        time.sleep(0.5)
                    n += 1

        return threading.Thread(target=run, name=f"writer-{name}", daemon=True)

    def transfers(self, http: httpx.Client, rng: random.Random, n: int) -> None:
        ref = "0x" + rng.randbytes(32).hex()
        body = {"batch_id": self.batch, "to": self.addresses["buyer"], "amount": rng.randint(1_000, 5_000),
                "deal_ref": ref}  # fmt: skip
        self.send(http, rng, self.new_write("transfer", "park", "POST", "/v1/transfers", body, f"ref:{ref}"))

    def retirements(self, http: httpx.Client, rng: random.Random, n: int) -> None:
        now = int(time.time())
        if n % 2 == 0:
            beneficiary = f"fault drill {uuid.UUID(bytes=rng.randbytes(16)).hex}"
            body = {"batch_id": self.batch, "amount": rng.randint(1_000, 3_000), "beneficiary": beneficiary,
                    "reason": "fault drill", "consumption_start": now - 30 * DAY, "consumption_end": now - DAY,
                    "region": "CN-ZJ"}  # fmt: skip
            write = self.new_write("retire", "buyer", "POST", "/v1/retirements", body, f"beneficiary:{beneficiary}")
        else:
            prefix = uuid.UUID(bytes=rng.randbytes(16)).hex
            orders = [
                {
                    "order_id": f"FD-{prefix}-{i}",
                    "shopper": f"shopper-{rng.randint(1, 5)}",
                    "legs": [{"mode": "road", "distance_km": rng.randint(50, 1500), "weight_kg": rng.randint(1, 5)}],
                    "packaging": [{"material": "corrugated_board", "mass_kg": 0.3}],
                }
                for i in range(rng.randint(1, 3))
            ]
            write = self.new_write("offset", "platform", "POST", "/v1/offsets/logistics",
                                   {"orders": orders, "region": "CN-ZJ"})  # fmt: skip
        self.send(http, rng, write)

    def deals(self, http: httpx.Client, rng: random.Random, n: int) -> None:
        """One flow: (a fresh batch) → a listing of three lots → four offers → accept each (three fit) →
        the custodian's receipt → delivery. A step without a usable answer ends the flow."""
        parts: list[dict[str, int]] = [{"batch_id": self.batch, "quantity": 3 * LOT}]
        if n % 4 == 3:
            fresh = self._fresh_batch(http, rng)
            if fresh is None:
                return
            parts = [{"batch_id": self.batch, "quantity": 2 * LOT}, {"batch_id": fresh, "quantity": LOT}]
        now = int(time.time())
        body: dict[str, Any] = {"price": PRICE, "min_lot": LOT, "valid_from": now - 60, "valid_until": now + 30 * DAY,
                                "title": "社区绿地碳汇", "description": "Verified sink (fault drill)."}  # fmt: skip
        if len(parts) == 1:
            body.update(batch_id=parts[0]["batch_id"], quantity=parts[0]["quantity"])
        else:
            body["parts"] = parts
        listing = self._step(http, rng, "listing", "park", "POST", "/v1/listings", body)
        if listing is None:
            return
        with self._lock:
            self.listings[int(listing["id"])] = int(listing["quantity"])
        offers = []
        for _ in range(4):
            offer = self._step(http, rng, "offer", "buyer", "POST", f"/v1/listings/{listing['id']}/offers",
                               {"quantity": LOT, "price": PRICE, "expires_at": now + 3600})  # fmt: skip
            if offer is not None:
                offers.append(int(offer["id"]))
        deals = []
        for offer_id in offers:
            accept = self.new_write("accept", "park", "POST", f"/v1/offers/{offer_id}/answer", {"action": "accept"})
            self.send(http, rng, accept)
            if accept.acknowledged and isinstance(accept.answer, dict):
                deals.append(int(accept.answer["id"]))
                continue
            deal_id = self._applied_accept(http, offer_id)
            if deal_id is not None:
                deals.append(deal_id)
                if accept.status is not None and accept.code() != "request_applied":
                    self.note_applied_refused(accept, f"offer {offer_id} is accepted as deal {deal_id}")
        for deal_id in deals:
            if self.stop_writers.is_set():
                return
            amount = deal_total_fen(PRICE_FEN, LOT)
            ref = f"FD-PAY-{deal_id}"
            message = {"dealId": deal_id, "amountFen": amount, "currency": "CNY", "custodianRef": ref,
                       "paidAt": int(time.time())}  # fmt: skip
            signature = custody_signature(self.status_cache, self.signer, "CustodianReceipt", message)  # type: ignore[arg-type]
            receipt = {"amount_fen": amount, "currency": "CNY", "custodian_ref": ref, "paid_at": message["paidAt"],
                       "signature": signature}  # fmt: skip
            paid = self.new_write("receipt", "buyer", "POST", f"/v1/deals/{deal_id}/receipt", receipt)
            self.send(http, rng, paid)
            if not paid.acknowledged:
                if self._deal_state(http, deal_id) != "paid":
                    continue
                if paid.status is not None and paid.code() != "request_applied":
                    self.note_applied_refused(paid, f"deal {deal_id} is paid")
            write = self.new_write("deliver", "park", "POST", f"/v1/deals/{deal_id}/deliver")
            write.deal_id = deal_id
            self.send(http, rng, write)

    def _step(self, http: httpx.Client, rng: random.Random, kind: str, who: str, method: str, path: str,
              body: dict[str, Any] | None, marker: str | None = None) -> dict[str, Any] | None:  # fmt: skip
        write = self.new_write(kind, who, method, path, body, marker)
        if self.send(http, rng, write) and write.acknowledged and isinstance(write.answer, dict):
            return write.answer
        return None

    def _applied_accept(self, http: httpx.Client, offer_id: int) -> int | None:
        """An accept answered `offer_closed` may have been applied by a run the node did not finish answering
        (a kill after its commit, before its answer was kept under the key): the offer says so."""
        reply = self._get(http, f"/v1/offers/{offer_id}", "buyer")
        if reply is not None and reply.get("state") == "accepted" and reply.get("deal_id"):
            return int(reply["deal_id"])
        return None

    def _deal_state(self, http: httpx.Client, deal_id: int) -> str | None:
        reply = self._get(http, f"/v1/deals/{deal_id}", "buyer")
        return None if reply is None else str(reply.get("state"))

    def _get(self, http: httpx.Client, path: str, who: str, tries: int = 20) -> Any:
        for _ in range(tries):
            if self.stop_writers.is_set() and time.monotonic() > self.hard_stop:
                return None
            try:
                reply = http.get(path, headers={"authorization": f"Bearer {self.tokens[who]}"})
            except httpx.HTTPError:
                time.sleep(0.5)
                continue
            if reply.status_code == 200:
                return reply.json()
            if reply.status_code < 500:
                return None
            time.sleep(0.5)
        return None

    def _fresh_batch(self, http: httpx.Client, rng: random.Random) -> int | None:
        """A new project, reviewed, its monitoring computed, verified and issued: a batch id answered under
        faults."""
        meta = "0x" + rng.randbytes(32).hex()
        project = self._step(http, rng, "project", "park", "POST", "/v1/projects", {"metadata_hash": meta},
                             f"meta:{meta}")  # fmt: skip
        if project is None:
            return None
        project_id = int(project["result"]["project_id"])
        self._step(http, rng, "review", "regulator", "POST", f"/v1/regulator/projects/{project_id}/review",
                   {"decision": "approved", "reason": "documents complete"})  # fmt: skip
        report = monitoring_report(trees=2_000)
        monitoring = self._step(http, rng, "monitoring", "park", "POST", f"/v1/projects/{project_id}/monitoring",
                                report)  # fmt: skip
        if monitoring is None:
            return None
        root = monitoring["evidence_root"]
        now = int(time.time())
        start, end = report_statement_period(report)
        statement = {"project_id": project_id, "period_start": start, "period_end": end,
                     "quantity": monitoring["accounting"]["creditable_grams"], "evidence_root": root,
                     "methodology": "SL-GS-001/1.1", "expiry": now + 3600, "nonce": rng.randint(1, 2**31)}  # fmt: skip
        signed = self._step(http, rng, "verification", "verifier", "POST", "/v1/verifications", statement)
        if signed is None:
            return None
        issued = self._step(http, rng, "issue", "issuer", "POST", "/v1/batches",
                            {"statement": statement, "signature": signed["signature"]}, f"evidence:{root}")  # fmt: skip
        return None if issued is None else int(issued["result"]["batch_id"])

    # the rounds ----------------------------------------------------------------------------------
    def run_rounds(self) -> None:
        config = self.config
        plan: list[str] = []
        while len(plan) < config.rounds:
            batch = list(config.kinds)
            self.rng.shuffle(batch)
            plan += batch
        plan = plan[: config.rounds]
        # Bounds: every round's writing, kill, restart and recovery, then the drain.
        self.hard_stop = time.monotonic() + config.rounds * (config.gap_s[1] + config.recovery_timeout_s + 130)
        self.hard_stop += config.drain_s
        writers = [
            self.writer("transfers", self.transfers),
            self.writer("retirements", self.retirements),
            self.writer("deals", self.deals),
        ]
        for thread in writers:
            thread.start()
        try:
            for number, kind in enumerate(plan, start=1):
                time.sleep(self.rng.uniform(*config.gap_s))
                self._check_alive()
                self._round(number, kind)
                self._check_alive()
            time.sleep(self.rng.uniform(*config.gap_s))
            self._check_alive()
        finally:
            self.stop_writers.set()
            if self.died is not None:
                self.hard_stop = time.monotonic()  # nothing will answer: the writers stop now
            # The writers finish what they are carrying (each request within its own budget).
            deadline = time.monotonic() + config.drain_s
            for thread in writers:
                thread.join(timeout=max(deadline - time.monotonic(), 0.1))
            stuck = [t.name for t in writers if t.is_alive()]
            if stuck:
                self.problem(f"writers still running after the drain: {stuck}")

    def _check_alive(self) -> None:
        died = self.node.died()
        if died is not None:
            self.died = died
            raise NodeDied(died)

    def _round(self, number: int, kind: str) -> None:
        kill = Kill(number, kind)
        rule_pid = self.node.rule_pid() if kind != "chain" else None
        if kind in ("rules", "node+rules") and rule_pid is None:
            self.problem(f"round {number}: no rule process to kill")
        anvil_pid = self.node.anvil_pid()
        with self._lock:
            self._pending = kill
            self._recovered.clear()
            kill.at = time.monotonic()
        if rule_pid is not None and kind in ("rules", "node+rules"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(rule_pid, signal.SIGKILL)
            kill.pids.append(rule_pid)
        if kind in NODE_KINDS:
            kill.pids.append(self.node.kill_up())
            # Its rule process follows it; its chain runs on, orphaned, until the next `up` stops it.
            if rule_pid is not None and not _wait_gone(rule_pid, 5):
                self.problem(f"round {number}: the rule process {rule_pid} outlived its node")
            try:
                self.node.start()
            except DrillError as error:
                self.died = str(error)[-500:]
                raise NodeDied(self.died) from error
            if anvil_pid is not None and not _wait_gone(anvil_pid, 15):
                self.problem(f"round {number}: the chain {anvil_pid} the killed node left was not stopped")
        if kind == "chain":
            if anvil_pid is None:
                self.problem(f"round {number}: no anvil PID file")
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(anvil_pid, signal.SIGKILL)
                kill.pids.append(anvil_pid)
        until = kill.at + self.config.recovery_timeout_s
        while time.monotonic() < until and not self._recovered.wait(min(0.5, max(until - time.monotonic(), 0))):
            if self.node.died() is not None:
                break
        self.kills.append(kill)
        took = "no 2xx write" if kill.recovery_s is None else f"first 2xx write after {kill.recovery_s:.2f} s"
        self.say(f"round {number}/{self.config.rounds}: kill -9 {kind} {kill.pids}: {took}")

    # after the rounds ----------------------------------------------------------------------------
    def settle(self) -> None:
        """Asks again, with their keys, every request left without a final answer (the node is steady now),
        until each has one or the drain's time is up; then waits for the node to be quiet."""
        deadline = time.monotonic() + self.config.drain_s
        self.hard_stop = deadline
        open_writes = [w for w in self.writes if w.status is None]
        with httpx.Client(base_url=self.base, timeout=httpx.Timeout(40.0, connect=2.0)) as http:
            for write in open_writes:
                if time.monotonic() >= deadline:
                    break
                self.perform(http, write, budget_s=max(deadline - time.monotonic(), 0.1))
        unanswered = [w for w in self.writes if w.status is None]
        if unanswered:
            self.problem(f"{len(unanswered)} requests never got a final answer, e.g. {unanswered[0].kind} "
                         f"{unanswered[0].path} {unanswered[0].trail[-6:]}")  # fmt: skip
        with contextlib.closing(RpcClient(self.settings.effective_rpc_url)) as rpc:
            while time.monotonic() < deadline:
                live, sent = self._node_backlog()
                head = rpc.block_number()
                status = self._status()
                if live == 0 and sent == 0 and status is not None and status["index"]["last_block"] >= head:
                    return
                time.sleep(0.3)
        live, sent = self._node_backlog()
        self.problem(f"the node did not settle: {live} live intents, {sent} transactions still pending")

    def _node_backlog(self) -> tuple[int, int]:
        db = sqlite3.connect(f"file:{self.settings.node_state_path}?mode=ro", uri=True)
        try:
            db.execute("PRAGMA busy_timeout=5000")
            live = db.execute("SELECT COUNT(*) FROM intent WHERE state IN ('reserved', 'sent')").fetchone()[0]
            sent = db.execute("SELECT COUNT(*) FROM chain_tx WHERE state = 'sent'").fetchone()[0]
            return int(live), int(sent)
        finally:
            db.close()

    def _status(self) -> dict[str, Any] | None:
        with contextlib.suppress(httpx.HTTPError, ValueError):
            reply = httpx.get(f"{self.base}/v1/status", timeout=5)
            if reply.status_code == 200:
                return dict(reply.json())
        return None

    # the audit -----------------------------------------------------------------------------------
    def audit(self) -> DrillReport:
        manifest = load_manifest(self.settings.manifest_path)
        with httpx.Client(base_url=self.base, timeout=30) as http:
            # A 202 never asked again to a final answer: its intent tells its fate.
            for write in self.writes:
                if write.status is None and write.intent_id is not None:
                    view = self._call(http, "GET", f"/v1/intents/{write.intent_id}", write.who)
                    if isinstance(view, dict) and view.get("state") in ("done", "failed"):
                        write.status, write.answer = int(view["status"]), view["answer"]
            deals = {int(d["id"]): d for d in self._call(http, "GET", "/v1/me/deals", "regulator") or []}
            for write in self.writes:
                if write.kind == "deliver" and write.deal_id is not None and write.deal_id not in deals:
                    found = self._call(http, "GET", f"/v1/deals/{write.deal_id}", "regulator")
                    if isinstance(found, dict):
                        deals[write.deal_id] = found
        with contextlib.closing(RpcClient(self.settings.effective_rpc_url)) as rpc:
            self._journal_findings(rpc)
            facts = read_chain(rpc, manifest)
            lost = self._lost(facts, deals, rpc)
            index_equal = self._index_equal(rpc, manifest)
        duplicated = [
            f"{marker} in {len({e['tx'] for e in events})} transactions"
            for marker, events in sorted(facts.by_marker.items())
            if len({e["tx"] for e in events}) > 1
        ]
        ours = [w for w in self.writes if w.twin_of is None]
        return DrillReport(
            rounds=len(self.kills),
            kills=self.kills,
            writes=len(ours),
            acknowledged=sum(w.acknowledged for w in ours),
            lost=lost,
            duplicated=duplicated,
            oversold=self._oversold(facts, deals),
            reused_ids=self._reused_ids(),
            index_equal=index_equal,
            problems=list(self.problems),
            server_errors=self.server_errors,
            node_starts=len(self.node.started),
            up_refusals=list(self.node.refusals),
            seconds=time.monotonic() - self._began,
            applied_refused=list(self.applied_refused),
        )

    def unaudited(self) -> DrillReport:
        """The report of a drill whose node died: what was answered, and why nothing could be checked."""
        ours = [w for w in self.writes if w.twin_of is None]
        return DrillReport(
            rounds=len(self.kills), kills=self.kills, writes=len(ours), acknowledged=sum(w.acknowledged for w in ours),
            lost=[], duplicated=[], oversold=[], reused_ids=[], index_equal=False, problems=list(self.problems),
            server_errors=self.server_errors, node_starts=len(self.node.started), up_refusals=list(self.node.refusals),
            seconds=time.monotonic() - self._began, node_died=self.died, applied_refused=list(self.applied_refused),
        )  # fmt: skip

    def _journal_findings(self, rpc: RpcClient) -> None:
        """What the node's own journal says went wrong: a transaction of an answered write given up (with what
        the chain says of it)."""
        db = sqlite3.connect(f"file:{self.settings.node_state_path}?mode=ro", uri=True)
        try:
            db.execute("PRAGMA busy_timeout=5000")
            rows = db.execute(
                "SELECT t.tx_hash, t.state, t.answer, i.id, i.kind FROM chain_tx t JOIN intent i ON i.id = t.intent_id"
                " WHERE t.state IN ('dropped', 'rejected') AND i.state = 'done'"
            ).fetchall()
        finally:
            db.close()
        for tx_hash, state, why, intent_id, kind in rows:
            found = rpc.call("eth_getTransactionByHash", tx_hash)
            where = "not on chain" if found is None else f"on chain in block {int(found['blockNumber'] or '0x0', 16)}"
            self.problem(f"intent {intent_id} ({kind}) was answered done, yet the journal marks its transaction "
                         f"{tx_hash} {state} ({why}); it is {where}")  # fmt: skip

    def _call(self, http: httpx.Client, method: str, path: str, who: str) -> Any:
        reply = http.request(method, path, headers={"authorization": f"Bearer {self.tokens[who]}"})
        return reply.json() if reply.status_code == 200 else None

    def _lost(self, facts: ChainFacts, deals: dict[int, dict[str, Any]], rpc: RpcClient) -> list[str]:
        """Acknowledged writes that are not on chain exactly once with the ids they were answered with."""
        lost = []
        for write in self.writes:
            if not write.acknowledged or write.twin_of is not None:
                continue
            why = self._check(write, facts, deals)
            if why is None:
                for tx in {v for k, v in _ids(write) if k == "tx"}:
                    receipt = rpc.call("eth_getTransactionReceipt", tx)
                    if receipt is None or int(receipt["status"], 16) != 1:
                        why = f"its transaction {tx} is not mined successfully on the chain"
            if why is not None:
                lost.append(f"{write.kind} #{write.seq} {write.path}: {why}")
        return lost

    def _check(self, write: Write, facts: ChainFacts, deals: dict[int, dict[str, Any]]) -> str | None:
        answer = write.answer if isinstance(write.answer, dict) else {}
        if write.kind in ("transfer", "retire", "project", "issue"):
            events = facts.by_marker.get(write.marker or "", [])
            if len(events) != 1:
                return f"{len(events)} events on chain for {write.marker}"
            event, result = events[0], answer.get("result") or {}
            if event["tx"] != str(answer.get("tx_hash", "")).lower():
                return f"answered tx {answer.get('tx_hash')}, on chain in {event['tx']}"
            expected = {"retire": ("retirement_id", "retirementId"), "project": ("project_id", "projectId"),
                        "issue": ("batch_id", "batchId")}.get(write.kind)  # fmt: skip
            if expected is not None and int(result.get(expected[0], -1)) != int(event["args"][expected[1]]):
                return f"answered {expected[0]} {result.get(expected[0])}, on chain {event['args'][expected[1]]}"
            return None
        if write.kind == "offset":
            events = facts.by_marker.get(f"root:{answer.get('root')}", [])
            on_chain = sorted((int(e["args"]["retirementId"]), e["tx"]) for e in events)
            answered = sorted(
                (int(r["retirement_id"]), str(r["tx_hash"]).lower()) for r in answer.get("retirements", [])
            )
            if not answered or on_chain != answered:
                return f"answered retirements {answered}, on chain {on_chain}"
            return None
        if write.kind == "deliver":
            deal = deals.get(write.deal_id or 0)
            if deal is None or not deal.get("deal_ref"):
                return f"deal {write.deal_id} not found, or without a deal reference"
            events = facts.by_marker.get(f"ref:{deal['deal_ref']}", [])
            txs = {e["tx"] for e in events}
            if len(txs) != 1 or sum(int(e["args"]["amount"]) for e in events) != int(deal["quantity"]):
                return f"deal {write.deal_id} ({deal['quantity']} g): {len(events)} transfers in {len(txs)} txs"
            answered_tx = answer.get("tx_hash")
            if answered_tx is not None and str(answered_tx).lower() not in txs:
                return f"answered tx {answered_tx}, delivered in {txs}"
            return None
        return None  # off-chain steps (listings, offers, accepts, receipts ...) have no chain effect of their own

    def _oversold(self, facts: ChainFacts, deals: dict[int, dict[str, Any]]) -> list[str]:
        found = []
        for listing_id, quantity in sorted(self.listings.items()):
            mine = [d for d in deals.values() if int(d["listing_id"]) == listing_id]
            reserved = sum(int(d["quantity"]) for d in mine if d["state"] in RESERVING)
            delivered = sum(
                int(e["args"]["amount"])
                for d in mine
                if d.get("deal_ref")
                for e in facts.by_marker.get(f"ref:{d['deal_ref']}", [])
            )
            if reserved > quantity or delivered > quantity:
                found.append(f"listing {listing_id} of {quantity} g: {reserved} g reserved, {delivered} g delivered")
        return found

    def _reused_ids(self) -> list[str]:
        """Chain ids (retirement, batch and project ids, tx hashes) answered to more than one request."""
        holders: dict[tuple[str, Any], set[str]] = {}
        for write in self.writes:
            if write.acknowledged:
                for name, value in _ids(write):
                    if name in ("tx", "retirement_id", "batch_id", "project_id"):
                        holders.setdefault((name, value), set()).add(write.key)
        return [f"{name} {value} answered to {len(keys)} requests"
                for (name, value), keys in sorted(holders.items(), key=str) if len(keys) > 1]  # fmt: skip

    def _index_equal(self, rpc: RpcClient, manifest: DeploymentManifest) -> bool:
        """The node's index against a clean re-index of the same chain (every derived table but the rules'
        alerts, which also draw on the node's own records, every event and the checkpoint's digest)."""
        path = self.workdir / "clean-index.sqlite"
        for _ in range(3):
            head = rpc.block_number()
            status = self._status()
            if status is None or status["index"]["last_block"] != head:
                time.sleep(1)
                continue
            path.unlink(missing_ok=True)
            clean = Indexer(self.settings.effective_rpc_url, manifest, path)
            try:
                clean.sync(until=head)
            finally:
                clean.close()
            with contextlib.closing(open_reader(path)) as db:
                expected = dump_index(connection=db)
            with contextlib.closing(open_reader(self.settings.index_path)) as db:
                actual = dump_index(connection=db)
            if actual["checkpoint"] != expected["checkpoint"] and rpc.block_number() != head:
                continue  # the chain moved meanwhile
            differ = [t for t in expected if t not in ("alert", "risk_note") and expected[t] != actual[t]]
            if status["index"]["digest"] != expected["checkpoint"][0][2]:
                differ.append("status digest")
            if differ:
                self.problem(f"the index differs from a clean re-index in {differ}")
                return False
            return True
        self.problem("the index never caught up with the chain for the comparison")
        return False

    def close(self) -> None:
        self.stop_writers.set()
        if self.node.process is not None and self.node.died() is None and not self.node.stop():
            self.problem("the node did not stop cleanly on SIGTERM")
        self.node.close()


def _ids(write: Write) -> list[tuple[str, Any]]:
    """The ids a write was answered with."""
    answer = write.answer
    if not isinstance(answer, dict) or "error" in answer:
        return [("error", write.code())] if isinstance(answer, dict) else []
    ids: list[tuple[str, Any]] = []
    if write.kind in ("transfer", "retire", "project", "issue"):
        ids.append(("tx", str(answer.get("tx_hash", "")).lower()))
        result = answer.get("result") or {}
        ids += [(name, result[name]) for name in ("retirement_id", "batch_id", "project_id") if name in result]
    elif write.kind == "offset":
        ids.append(("offset_id", answer.get("offset_id")))
        for r in answer.get("retirements", []):
            ids += [("retirement_id", r["retirement_id"]), ("tx", str(r["tx_hash"]).lower())]
    elif write.kind == "deliver":
        ids.append(("deal_id", answer.get("deal_id", answer.get("id"))))
    elif "id" in answer:
        ids.append((f"{write.kind}_id", answer["id"]))
    return sorted(set(ids), key=str)


@contextlib.contextmanager
def drill(workdir: Path, config: DrillConfig, say: Callable[[str], None] = print) -> Iterator[Drill]:
    """A drill whose node is stopped, and every process it started killed, however the block ends."""
    handle = Drill(workdir, config, say)
    try:
        yield handle
    finally:
        handle.close()


def run_drill(workdir: Path, config: DrillConfig, say: Callable[[str], None] = print) -> DrillReport:
    """Setup, the rounds, the drain and the audit; the node is stopped however it ends."""
    with drill(workdir, config, say) as handle:
        handle.setup()
        try:
            handle.run_rounds()
        except NodeDied:
            report = handle.unaudited()
        else:
            handle.settle()
            report = handle.audit()
    report.problems = list(handle.problems)  # with what stopping the node found
    return report
