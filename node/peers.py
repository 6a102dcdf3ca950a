"""`sinknode peers compare`: do the organisations' nodes hold the same ledger?

Every node is asked for its index digest at one block (the lowest block all of them hold, unless one is
given): the event digest and one digest per chain-derived table (node.index.agreement). The first node
is the reference. For a node that differs the report names the first differing event (block, log index,
transaction) when the events differ, else the first table and row (its key) whose content differs.
A regulator's node runs the comparison on a schedule and raises an alert on a divergence.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from node.index.agreement import COMPARED_TABLES
from node.risk.engine import alert_key

log = logging.getLogger("sinknode.peers")

_EVENT_PAGE = 5_000


@dataclass
class PeerOutcome:
    url: str
    agrees: bool
    events: int = 0
    event_digest: str = ""
    first_event: dict[str, Any] | None = None  # where the events first differ
    table: str | None = None  # the first derived table that differs
    row: dict[str, Any] | None = None  # its first differing row: key, the reference's hash, this node's
    error: str | None = None  # the node could not answer

    def describe(self) -> str:
        if self.error is not None:
            return f"{self.url}: no answer ({self.error})"
        if self.agrees:
            return f"{self.url}: agrees ({self.events} events, digest {self.event_digest[:16]}…)"
        if self.first_event is not None:
            e = self.first_event
            return f"{self.url}: events differ from block {e['block']} log {e['log_index']} (tx {e['tx_hash']})"
        return f"{self.url}: table {self.table} differs at row {self.row and self.row['key']}"


@dataclass
class Comparison:
    block: int
    reference: str
    outcomes: list[PeerOutcome] = field(default_factory=list)

    @property
    def agreed(self) -> bool:
        return all(o.agrees for o in self.outcomes)

    def as_dict(self) -> dict[str, Any]:
        return {"block": self.block, "reference": self.reference, "agreed": self.agreed,
                "peers": [o.__dict__ for o in self.outcomes]}  # fmt: skip


def _get(http: httpx.Client, url: str, path: str, **params: Any) -> Any:
    reply = http.get(url.rstrip("/") + path, params=params)
    if reply.status_code != 200:
        try:
            message = reply.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = reply.text[:200]
        raise PeerError(f"{path}: {reply.status_code} {message}")
    return reply.json()


class PeerError(Exception):
    pass


def compare(urls: list[str], *, block: int | None = None, timeout_s: float = 120.0) -> Comparison:
    """Compares every node's index with the first's, at `block` (default: the lowest block all hold)."""
    if len(urls) < 2:
        raise ValueError("compare needs at least two nodes")
    with httpx.Client(timeout=timeout_s) as http:
        if block is None:
            heads = [int(_get(http, url, "/v1/status")["index"]["last_block"]) for url in urls]
            block = min(heads)
        reference_url, *others = urls
        reference = _get(http, reference_url, "/v1/peer/digest", block=block)
        comparison = Comparison(block, reference_url)
        for url in others:
            try:
                theirs = _get(http, url, "/v1/peer/digest", block=block)
            except (PeerError, httpx.HTTPError) as error:
                comparison.outcomes.append(PeerOutcome(url, agrees=False, error=str(error)))
                continue
            outcome = PeerOutcome(url, agrees=theirs == reference, events=theirs["events"],
                                  event_digest=theirs["event_digest"])  # fmt: skip
            if not outcome.agrees:
                _locate(http, reference_url, url, reference, theirs, block, outcome)
            comparison.outcomes.append(outcome)
    return comparison


def _locate(http: httpx.Client, ours_url: str, url: str, ours: dict[str, Any], theirs: dict[str, Any], block: int,
            outcome: PeerOutcome) -> None:  # fmt: skip
    if ours["event_digest"] != theirs["event_digest"]:
        outcome.first_event = _first_event_difference(http, ours_url, url, block)
        return
    for table in COMPARED_TABLES:
        if ours["tables"].get(table) != theirs["tables"].get(table):
            outcome.table = table
            outcome.row = _first_row_difference(
                _get(http, ours_url, "/v1/peer/rows", block=block, table=table),
                _get(http, url, "/v1/peer/rows", block=block, table=table),
            )
            return


def _first_event_difference(http: httpx.Client, ours_url: str, url: str, block: int) -> dict[str, Any] | None:
    """The first event (in chain order) whose running digest differs, or the first one only one side has."""
    start = 0
    while start <= block:
        ours = _get(http, ours_url, "/v1/peer/events", from_block=start, to_block=block, limit=_EVENT_PAGE)
        theirs = _get(http, url, "/v1/peer/events", from_block=start, to_block=block, limit=_EVENT_PAGE)
        for mine, other in zip(ours, theirs, strict=False):
            if mine != other:
                return {"block": mine["block"], "log_index": mine["log_index"], "tx_hash": mine["tx_hash"],
                        "ours": mine, "theirs": other}  # fmt: skip
        if len(ours) != len(theirs):
            extra = (ours if len(ours) > len(theirs) else theirs)[min(len(ours), len(theirs))]
            return {"block": extra["block"], "log_index": extra["log_index"], "tx_hash": extra["tx_hash"],
                    "only_in": ours_url if len(ours) > len(theirs) else url}  # fmt: skip
        if len(ours) < _EVENT_PAGE:
            return None
        # Pages end inside a block: start again at the last page's last block and skip what was compared.
        start = ours[-1]["block"]
        same_block = [e for e in ours if e["block"] == start]
        if len(same_block) == len(ours):
            return None  # a block with more events than a page holds: give up locating (the digests differ)
    return None


def _first_row_difference(ours: list[dict[str, str]], theirs: list[dict[str, str]]) -> dict[str, Any] | None:
    mine = {r["key"]: r["hash"] for r in ours}
    other = {r["key"]: r["hash"] for r in theirs}
    keys = [r["key"] for r in ours] + [r["key"] for r in theirs if r["key"] not in mine]
    for key in keys:
        if mine.get(key) != other.get(key):
            return {"key": key, "ours": mine.get(key), "theirs": other.get(key)}
    return None


RULE = "index_divergence"


def divergence_alert(comparison: Comparison, outcome: PeerOutcome, now: int, severity: str = "high") -> tuple[Any, ...]:
    """The alert (report_alert's columns, node.risk.engine.ALERT_COLUMNS) a divergence from a peer raises,
    once per peer and block."""
    where = outcome.describe()
    zh = f"节点索引不一致：在区块 {comparison.block}，{where}"
    en = f"Indexes disagree at block {comparison.block}: {where}"
    details = {
        "block": comparison.block,
        "reference": comparison.reference,
        "peer": outcome.url,
        "first_event": outcome.first_event,
        "table": outcome.table,
        "row": outcome.row,
        "error": outcome.error,
    }
    return (
        alert_key(RULE, f"{outcome.url}@{comparison.block}"),
        RULE,
        severity,
        comparison.block,
        None,
        None,
        now,
        "[]",
        orjson.dumps([{"peer": outcome.url}]).decode(),
        "[]",
        zh,
        en,
        orjson.dumps(details).decode(),
    )


class PeerWatch:
    """A regulator's node comparing its index with its peers' every `period_s` seconds (SINKNODE_PEERS,
    SINKNODE_PEER_COMPARE_S), raising an alert for each peer that disagrees (one that does not answer is
    logged, not alerted: it may be restarting)."""

    def __init__(self, own_url: str, peers: list[str], period_s: float, save: Callable[[tuple[Any, ...]], bool],
                 severity: str = "high") -> None:  # fmt: skip
        self.urls = [own_url, *peers]
        self.severity = severity
        self.period_s = period_s
        self.save = save
        self.last: Comparison | None = None

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.period_s):
            try:
                self.check()
            except Exception:  # a pass that fails (this node restarting, say) must not end the watch
                log.exception("peer comparison failed")

    def check(self) -> Comparison:
        comparison = compare(self.urls)
        self.last = comparison
        for outcome in comparison.outcomes:
            if outcome.error is not None:
                log.warning("peer comparison: %s", outcome.describe())
            elif not outcome.agrees and self.save(
                divergence_alert(comparison, outcome, int(time.time()), self.severity)
            ):
                log.warning("index divergence: %s", outcome.describe())
        return comparison
