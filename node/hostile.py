"""Hostile requests against a whole node, shared by tests/integration/test_hostile.py and `python -m bench.abuse`
(a dev helper like node.faultdrill: nothing in the product imports it).

`HostileNode` runs `sinknode up --no-demo` as a child process in a home of its own, with small limits so the
probes stay cheap (an 8 MB upload cap, a 1 s SQL time limit), registers the demo cast through the API and
gives it what the probes need: a batch, an open listing, a seller with a 1-fen deposit. `probes()` lists the
requests an attacker sends, each with the refusal it must get; `snapshot()` reads what the node holds (every
row of its store but the audit log of regulator queries and the idempotency keys, the index's checkpoint,
the evidence directory's files) so a caller can check a refusal changed nothing; `alive()` says whether
the process still answers.
"""

import contextlib
import hashlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from node.chain.keystore import Keystore
from node.chain.rpc import RpcClient
from node.demo import CAST, prepare_participants
from node.devflows import custodian, deposit, issued_batch, listing_for
from node.devnode import LocalNode, register_cast
from node.faultdrill import child_node, children
from node.store import Store

PASSWORD = "hostile-drill-password"
UPLOAD_CAP = 8 * 2**20
# Tables whose rows a refused request may add by design: the regulator's audit log, the idempotency keys.
_AUDIT_TABLES = {"regulator_query", "idempotency_key", "schema_version"}


@dataclass(frozen=True)
class Probe:
    """One hostile request and the answer it must get: a status and the codes accepted for it."""

    name: str
    method: str
    path: str
    who: str | None
    status: int
    codes: tuple[str, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    changes_state: bool = False  # True for a probe that is a legitimate read whose audit entry is kept


def deep_json(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _streamed(total: int, chunk: int = 256 * 1024, sent: list[int] | None = None) -> Iterator[bytes]:
    """A body sent in chunks with no Content-Length (chunked transfer); `sent` counts what was yielded."""
    block = b"a" * chunk
    done = 0
    while done < total:
        piece = block[: min(chunk, total - done)]
        done += len(piece)
        if sent is not None:
            sent.append(len(piece))
        yield piece


class HostileNode:
    def __init__(self, workdir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.home = workdir / "home"
        logs = workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        limits = {"SINKNODE_MAX_UPLOAD_BYTES": str(UPLOAD_CAP), "SINKNODE_SQL_TIME_LIMIT_S": "1"}
        self.process, self.settings = child_node(self.home, logs, PASSWORD, {**limits, **(extra_env or {})})
        self.base = self.process.base
        self.tokens: dict[str, str] = {}
        self.addresses: dict[str, str] = {}
        self.batch = 0
        self.project = 0
        self.listing = 0

    # life ------------------------------------------------------------------------------------------------
    def __enter__(self) -> "HostileNode":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def start(self) -> None:
        self.process.start()
        state = Store(self.settings.store_location)
        try:
            self.tokens = prepare_participants(self.settings, state)
        finally:
            state.close()
        keystore = Keystore.from_settings(self.settings)
        self.addresses = {name: keystore.address(name).lower() for name in CAST}
        with self.client() as local:
            register_cast(local)
            custodian(local)
            assert deposit(local, "park").status_code == 201
            # A seller whose whole deposit is one fen: it may not list a tonne of value.
            assert deposit(local, "platform", amount_fen=1).status_code == 201
            self.project, self.batch = issued_batch(local)
            local.ok("POST", "/v1/transfers", "park",
                     json={"batch_id": self.batch, "to": self.addresses["platform"], "amount": 50_000_000,
                           "deal_ref": "0x" + os.urandom(32).hex()})  # fmt: skip
            local.ok("POST", "/v1/transfers", "park",
                     json={"batch_id": self.batch, "to": self.addresses["buyer"], "amount": 50_000_000,
                           "deal_ref": "0x" + os.urandom(32).hex()})  # fmt: skip
            self.listing = local.ok("POST", "/v1/listings", "park", json=listing_for(self.batch, 10_000_000))["id"]
            self.wait_indexed(local)

    def wait_indexed(self, local: LocalNode, timeout_s: float = 30.0) -> None:
        """Until the index holds the chain's head, so a snapshot taken now is stable."""
        rpc = RpcClient(self.settings.effective_rpc_url)
        try:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                head = int(rpc.call("eth_blockNumber"), 16)
                if local.ok("GET", "/v1/status")["index"]["last_block"] >= head:
                    return
                time.sleep(0.1)
        finally:
            rpc.close()

    def close(self) -> None:
        self.process.close()

    @contextlib.contextmanager
    def client(self, local_address: str | None = None, timeout: float = 60.0) -> Iterator[LocalNode]:
        transport = httpx.HTTPTransport(local_address=local_address) if local_address else None
        with httpx.Client(base_url=self.base, timeout=timeout, transport=transport) as http:
            yield LocalNode(self.settings, self.base, self.tokens, self.addresses, http)

    def alive(self) -> bool:
        if self.process.died() is not None:
            return False
        try:
            return httpx.get(f"{self.base}/healthz", timeout=10).status_code == 200
        except httpx.HTTPError:
            return False

    def pids(self) -> list[int]:
        """The node's processes: `up` and everything under it (anvil, the rule process, SQL workers)."""
        found: list[int] = []
        todo = [self.process.pid]
        while todo and len(found) < 256:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children(pid))
        return found

    def rss_mb(self) -> float:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        return total / 1024

    # what the node holds -------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        held: dict[str, Any] = {}
        store = sqlite3.connect(f"file:{self.settings.node_state_path}?mode=ro", uri=True)
        try:
            tables = [r[0] for r in store.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in sorted(set(tables) - _AUDIT_TABLES):
                digest = hashlib.sha256()
                for row in store.execute(f'SELECT * FROM "{table}" ORDER BY rowid'):
                    if table == "sqlite_sequence" and row[0] in _AUDIT_TABLES:
                        continue  # the audit log's own counter
                    digest.update(repr(row).encode())
                held[f"store.{table}"] = digest.hexdigest()
        finally:
            store.close()
        index = sqlite3.connect(f"file:{self.settings.index_path}?mode=ro", uri=True)
        try:
            held["index.checkpoint"] = index.execute("SELECT event_count, digest FROM checkpoint").fetchall()
        finally:
            index.close()
        evidence = self.settings.evidence_dir
        files = evidence.rglob("*") if evidence.exists() else iter(())
        held["evidence"] = sorted(str(path.relative_to(evidence)) for path in files)
        return held

    # the probes ----------------------------------------------------------------------------------------
    def probes(self) -> list[Probe]:
        now = int(time.time())
        listing_path = "/v1/listings"

        def listing(quantity: int = 1_000_000, **fields: Any) -> dict[str, Any]:
            return {"json": listing_for(self.batch, quantity, **fields)}

        sql = "/v1/regulator/sql"
        wording = ("financial_wording",)
        return [
            Probe("deep_json_ordinary_route", "POST", "/v1/transfers", None, 422, ("too_deeply_nested",),
                  {"content": deep_json(100_000), "headers": {"content-type": "application/json"}}),
            Probe("deep_json_bulk_route", "POST", "/v1/offsets/logistics", None, 422, ("too_deeply_nested",),
                  {"content": deep_json(1_000_000), "headers": {"content-type": "application/json"}}),
            Probe("deep_json_with_a_token", "POST", "/v1/transfers", "park", 422, ("too_deeply_nested",),
                  {"content": deep_json(100_000), "headers": {"content-type": "application/json"}}),
            Probe("body_over_the_json_cap", "POST", "/v1/transfers", None, 413, ("payload_too_large",),
                  {"content": b"[" + b"0," * 600_000 + b"0]", "headers": {"content-type": "application/json"}}),
            Probe("chunked_body_over_the_json_cap", "POST", "/v1/listings", "park", 413, ("payload_too_large",),
                  {"content": _streamed(4 * 2**20), "headers": {"content-type": "application/json"}}),
            Probe("upload_over_the_cap", "POST", "/v1/evidence", "park", 413, ("payload_too_large",),
                  {"data": {"project_id": str(self.project)},
                   "files": [("files", ("big.bin", b"\x00" * (UPLOAD_CAP + 2**20), "application/octet-stream"))]}),
            Probe("sql_printf_of_a_gigabyte", "POST", sql, "regulator", 422, ("sql_too_large", "sql_timeout"),
                  {"json": {"query": "SELECT printf('%.900000000c', 'a')"}}),
            Probe("sql_randomblob_of_a_gigabyte", "POST", sql, "regulator", 403, ("sql_forbidden",),
                  {"json": {"query": "SELECT randomblob(1000000000)"}}),
            Probe("sql_zeroblob", "POST", sql, "regulator", 403, ("sql_forbidden",),
                  {"json": {"query": "SELECT zeroblob(1000000000)"}}),
            Probe("sql_endless_recursion", "POST", sql, "regulator", 422, ("sql_timeout",),
                  {"json": {"query": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                                     "SELECT count(*) FROM c"}}),
            Probe("sql_attach", "POST", sql, "regulator", 403, ("sql_forbidden",),
                  {"json": {"query": "ATTACH DATABASE '/tmp/x.sqlite' AS x"}}),
            Probe("sql_write", "POST", sql, "regulator", 403, ("sql_forbidden",),
                  {"json": {"query": "DELETE FROM chain_event"}}),
            Probe("wording_traditional_characters", "POST", listing_path, "park", 422, wording,
                  listing(title="穩賺不賠的碳匯")),
            Probe("wording_look_alike_letters", "POST", listing_path, "park", 422, wording,
                  listing(description="Guаrаnteed return on every tonne")),  # Cyrillic а
            Probe("wording_html_references", "POST", listing_path, "park", 422, wording,
                  listing(title="&#20445;&#26412; carbon")),
            Probe("wording_percent_encoding", "POST", listing_path, "park", 422, wording,
                  listing(title="%E4%BF%9D%E6%9C%AC carbon")),
            Probe("wording_invisible_characters", "POST", listing_path, "park", 422, wording,
                  listing(title="保\u200b本\u2060碳汇")),
            Probe("wording_synonym_zh", "POST", listing_path, "park", 422, wording,
                  listing(description="零风险，高回报的城市碳汇")),
            Probe("wording_synonym_en", "POST", listing_path, "park", 422, wording,
                  listing(description="A risk-free, high-return carbon asset")),
            Probe("wording_in_a_project_name", "POST", "/v1/projects", "park", 422, wording,
                  {"json": {"profile": {"name": "保本稳赚公园", "region": "CN-ZJ", "kind": "park"}}}),
            Probe("offer_already_expired", "POST", f"/v1/listings/{self.listing}/offers", "buyer", 422,
                  ("already_expired",), {"json": {"quantity": 1_000_000, "price": "58.00", "expires_at": now - 60}}),
            Probe("listing_already_expired", "POST", listing_path, "park", 422, ("already_expired",),
                  listing(valid_from=now - 7200, valid_until=now - 60)),
            Probe("impossible_date_filter", "GET", "/v1/regulator/summary", "regulator", 422, ("validation_error",),
                  {"params": {"since": "2024-13-45"}}),
            Probe("nul_in_a_beneficiary", "POST", "/v1/retirements", "buyer", 422, ("validation_error",),
                  {"json": {"batch_id": self.batch, "amount": 1_000, "beneficiary": "Ali\x00ce",
                            "reason": "offset"}}),
            Probe("control_characters_in_a_title", "POST", listing_path, "park", 422, ("validation_error",),
                  listing(title="碳汇\x1b[31m")),
            Probe("bidi_override_in_a_project_name", "POST", "/v1/projects", "park", 422, ("validation_error",),
                  {"json": {"profile": {"name": "Park \u202egnp.exe", "region": "CN-ZJ", "kind": "park"}}}),
            Probe("one_fen_deposit_lists_a_fortune", "POST", listing_path, "platform", 409, ("deposit_insufficient",),
                  listing(quantity=40_000_000)),
        ]  # fmt: skip

    def send(self, local: LocalNode, probe: Probe) -> httpx.Response:
        kwargs = dict(probe.kwargs)
        if probe.name.startswith("chunked"):
            kwargs["content"] = _streamed(4 * 2**20)  # a generator is spent once: a fresh one per send
        return local.call(probe.method, probe.path, probe.who, **kwargs)


def error_code(reply: httpx.Response) -> str | None:
    try:
        body = reply.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("code") if isinstance(error, dict) else None


def judged(reply: httpx.Response, probe: Probe) -> str | None:
    """None when the answer is the one the probe must get; else what is wrong with it."""
    code = error_code(reply)
    if reply.status_code == probe.status and code in probe.codes:
        return None
    return f"{probe.name}: wanted {probe.status} {probe.codes}, got {reply.status_code} {reply.text[:300]}"


Sender = Callable[[LocalNode, Probe], httpx.Response]
