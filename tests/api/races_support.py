"""Helpers of the race suite (tests/api/test_races.py).

- `race` sends many requests at once over real HTTP: one thread and one httpx.Client per request, released
  together by a barrier, every thread bounded in time.
- `Chain` reads the registry's own logs straight from the chain's JSON-RPC (not through the node), decoded
  with the ABI of the deployment manifest.
- `reconcile` checks the chain, the index and the node's off-chain state against each other and returns
  every difference found (an empty list when they agree).
"""

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from eth_abi import decode
from eth_utils import keccak

from node.devnode import LocalNode
from registry.offsets import OffsetTree

ZERO32 = "0x" + "00" * 32
LIVE_INTENTS = "SELECT COUNT(*) FROM intent WHERE state IN ('reserved', 'sent')"


# ------------------------------------------------------------------------------------------------
# Concurrent requests


class NodeBug(AssertionError):
    """A wrong answer of the node's (every invariant held, but a request was answered as it must not be):
    what a strict xfail names in `raises`, so that a broken invariant still fails the test."""


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    who: str | None = None
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def race(node: LocalNode, calls: list[Call], *, timeout_s: float = 60.0) -> list[httpx.Response]:
    """Sends every call at once and returns the answers in call order.

    Each call gets a thread and an httpx.Client of its own, connected (a cheap GET) before a barrier
    releases them all together. Every thread must have its answer within `timeout_s`."""
    barrier = threading.Barrier(len(calls))
    answers: list[httpx.Response | BaseException | None] = [None] * len(calls)

    def send(index: int, call: Call) -> None:
        headers = dict(call.headers)
        if call.who is not None:
            headers["authorization"] = f"Bearer {node.tokens[call.who]}"
        urls = node.race_urls or [node.url]
        try:
            with httpx.Client(base_url=urls[index % len(urls)], timeout=timeout_s) as client:
                client.get("/v1/status")  # the connection is open before the release
                barrier.wait(timeout=timeout_s)
                answers[index] = client.request(call.method, call.path, headers=headers, json=call.json)
        except BaseException as error:  # reported below, never lost in the thread
            barrier.abort()
            answers[index] = error

    threads = [threading.Thread(target=send, args=(i, c), daemon=True) for i, c in enumerate(calls)]
    deadline = time.monotonic() + timeout_s + 5
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), f"a request of the race took longer than {timeout_s} s"
    failed = [a for a in answers if not isinstance(a, httpx.Response)]
    assert not failed, f"{len(failed)} requests got no answer: {failed[0]!r}"
    if node.race_urls:
        _caught_up(node)  # a write another host answered is in this host's index too before the test reads it
    return [a for a in answers if isinstance(a, httpx.Response)]


def _caught_up(node: LocalNode, timeout_s: float = 15.0) -> None:
    head = Chain(node).head()
    deadline = time.monotonic() + timeout_s
    while node.ok("GET", "/v1/status")["index"]["last_block"] < head and time.monotonic() < deadline:
        time.sleep(0.05)


def shape_of(reply: httpx.Response) -> tuple[int, str | None]:
    """(status, error code or None), after checking the answer is JSON and, if it is a refusal, in the error
    shape {"error": {"code", "message"}}."""
    assert reply.headers.get("content-type", "").startswith("application/json"), (reply.status_code, reply.text)
    body = reply.json()
    if reply.status_code < 400:
        assert isinstance(body, dict) and "error" not in body, body
        return reply.status_code, None
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message"} and isinstance(error["code"], str), body
    assert isinstance(error["message"], str) and error["message"], body
    return reply.status_code, error["code"]


def outcomes(replies: list[httpx.Response]) -> dict[tuple[int, str | None], int]:
    """How many answers of each (status, code), every answer checked for its shape."""
    counted: dict[tuple[int, str | None], int] = {}
    for reply in replies:
        key = shape_of(reply)
        counted[key] = counted.get(key, 0) + 1
    return counted


# ------------------------------------------------------------------------------------------------
# The chain, read directly


class Chain:
    """The registry's logs as the chain holds them (eth_getLogs on the node's RPC URL)."""

    def __init__(self, node: LocalNode) -> None:
        manifest = json.loads(node.settings.manifest_path.read_text())
        registry = manifest["contracts"]["SinkRegistry"]
        self.address = registry["address"].lower()
        self.deploy_block = int(registry["deploy_block"])
        self.url = node.settings.effective_rpc_url
        self.events: dict[str, dict[str, Any]] = {}
        for entry in registry["abi"]:
            if entry.get("type") == "event":
                signature = f"{entry['name']}({','.join(i['type'] for i in entry['inputs'])})"
                self.events[entry["name"]] = {**entry, "topic": "0x" + keccak(text=signature).hex()}

    def rpc(self, method: str, *params: Any) -> Any:
        reply = httpx.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
                           timeout=30)  # fmt: skip
        body = reply.json()
        assert "error" not in body, body
        return body["result"]

    def head(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def logs(self, name: str) -> list[dict[str, Any]]:
        """Every `name` event of the registry, decoded, in chain order, with its tx hash and block."""
        event = self.events[name]
        raw = self.rpc("eth_getLogs", {"address": self.address, "fromBlock": hex(self.deploy_block),
                                       "toBlock": "latest", "topics": [event["topic"]]})  # fmt: skip
        indexed = [i for i in event["inputs"] if i["indexed"]]
        plain = [i for i in event["inputs"] if not i["indexed"]]
        found = []
        for log in raw:
            args: dict[str, Any] = {}
            for spec, topic in zip(indexed, log["topics"][1:], strict=True):
                args[spec["name"]] = decode([spec["type"]], bytes.fromhex(topic[2:]))[0]
            values = decode([i["type"] for i in plain], bytes.fromhex(log["data"][2:]))
            args.update({spec["name"]: value for spec, value in zip(plain, values, strict=True)})
            args = {k: ("0x" + v.hex() if isinstance(v, bytes) else v.lower() if isinstance(v, str)
                        and v.startswith("0x") else v) for k, v in args.items()}  # fmt: skip
            found.append({**args, "tx_hash": log["transactionHash"], "block_number": int(log["blockNumber"], 16),
                          "log_index": int(log["logIndex"], 16)})  # fmt: skip
        return found

    def retirements(self) -> list[dict[str, Any]]:
        return self.logs("CertificateRetired")

    def transfers(self) -> list[dict[str, Any]]:
        return self.logs("CertificateTransferred")


# ------------------------------------------------------------------------------------------------
# The node's off-chain state, read-only


def state_rows(node: LocalNode, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of the node's store through a connection of the test's own (the node keeps writing meanwhile)."""
    return node.store_rows(sql, params)


def live_intents(node: LocalNode) -> int:
    return int(state_rows(node, LIVE_INTENTS)[0][0])


def settle(node: LocalNode, chain: Chain, timeout_s: float = 15.0) -> None:
    """Waits until no intent is live and the index holds the chain's head (bounded)."""
    deadline = time.monotonic() + timeout_s
    while True:
        head = chain.head()
        indexed = node.ok("GET", "/v1/status")["index"]["last_block"]
        if live_intents(node) == 0 and indexed >= head:
            return
        if time.monotonic() > deadline:
            return  # reconcile reports what is left
        time.sleep(0.1)


def all_pages(node: LocalNode, path: str, who: str | None = None, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while True:
        page = node.ok("GET", path, who, params={**params, "limit": 5000, "offset": len(rows)})
        rows += page
        if len(page) < 5000:
            return rows


def indexed_events(node: LocalNode, name: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"name": name, "limit": 5000}
        if cursor:
            params["cursor"] = cursor
        page = node.ok("GET", "/v1/regulator/events", "regulator", params=params)
        events += page["events"]
        cursor = page["next_cursor"]
        if not cursor:
            return events


# ------------------------------------------------------------------------------------------------
# Reconciliation


def reconcile(node: LocalNode) -> list[str]:
    """Every difference between the chain, the index and the node's off-chain state (none: []).

    (a) the index against the chain: the regulator's reconciliation (balances, batch statuses,
        participants, projects) reports nothing, and the index holds exactly the chain's retirements and
        transfers;
    (b) every offset record matches exactly one retirement set on chain (one transaction) under its root,
        its orders rebuild that root and add up to what was retired; a campaign likewise; no retirement
        carries a beneficiary hash that is neither an offset's nor a campaign's root;
    (c) every delivered deal has exactly one transfer (one transaction) with its deal reference, from its
        seller to its buyer, of its quantity; no transfer carries the reference of a deal not delivered;
    (d) no intent, offset, campaign or deal is left half-way (reserved, sent, pending, retiring, delivering).
    """
    chain = Chain(node)
    settle(node, chain)
    differences: list[str] = []

    # (a) ---------------------------------------------------------------------------------------
    report = node.ok("GET", "/v1/regulator/reconciliation", "regulator")
    differences += [f"index vs chain: {d}" for d in report["differences"]]
    if report["checks"] == 0:
        differences.append("the regulator's reconciliation checked nothing")
    retired = chain.retirements()
    transferred = chain.transfers()
    on_chain = {(r["retirementId"], r["batchId"], r["holder"], r["amount"], r["beneficiaryHash"], r["tx_hash"])
                for r in retired}  # fmt: skip
    indexed = {(r["id"], r["batch_id"], r["holder"].lower(), r["amount"], r["beneficiary_hash"].lower(),
                r["tx_hash"].lower()) for r in all_pages(node, "/v1/registry/retirements")}  # fmt: skip
    differences += [f"retirement on chain, not in the index: {r}" for r in sorted(on_chain - indexed)]
    differences += [f"retirement in the index, not on chain: {r}" for r in sorted(indexed - on_chain)]
    chain_moves = {(t["tx_hash"], t["log_index"], t["batchId"], t["from"], t["to"], t["amount"], t["dealRef"])
                   for t in transferred}  # fmt: skip
    index_moves = {(e["tx_hash"].lower(), e["log_index"], int(e["args"]["batchId"]), e["account"], e["counterparty"],
                    e["amount"], e["args"]["dealRef"].lower())
                   for e in indexed_events(node, "CertificateTransferred")}  # fmt: skip
    differences += [f"transfer on chain, not in the index: {t}" for t in sorted(chain_moves - index_moves)]
    differences += [f"transfer in the index, not on chain: {t}" for t in sorted(index_moves - chain_moves)]

    # (b) ---------------------------------------------------------------------------------------
    by_root: dict[str, list[dict[str, Any]]] = {}
    for r in retired:
        by_root.setdefault(r["beneficiaryHash"], []).append(r)
    known_roots: set[str] = set()
    for offset_id, root, state in state_rows(node, "SELECT id, root, state FROM offset_batch ORDER BY id"):
        root = root.lower()
        known_roots.add(root)
        if state != "done":
            differences.append(f"offset {offset_id} is still {state}")
            continue
        record = node.ok("GET", f"/v1/offsets/{offset_id}/orders")
        matching = by_root.get(root, [])
        txs = {r["tx_hash"] for r in matching}
        if len(txs) != 1:
            differences.append(f"offset {offset_id}: {len(txs)} retirement transactions under its root {root}")
            continue
        if sorted(r["retirementId"] for r in matching) != sorted(x["retirement_id"] for x in record["retirements"]):
            differences.append(f"offset {offset_id}: its retirements {record['retirements']} are not the chain's")
        grams = sum(g for _, g in record["orders"])
        if sum(r["amount"] for r in matching) != grams:
            differences.append(f"offset {offset_id}: {grams} g of orders, {sum(r['amount'] for r in matching)} retired")
        rebuilt = "0x" + OffsetTree.build([(o, g) for o, g in record["orders"]]).root.hex()
        if rebuilt != root or record["root"].lower() != root:
            differences.append(f"offset {offset_id}: its orders rebuild {rebuilt}, not its root {root}")
    for campaign_id, state, root, retirement_id in state_rows(
        node, "SELECT id, state, root, retirement_id FROM campaign ORDER BY id"
    ):
        if state == "retiring":
            differences.append(f"campaign {campaign_id} is still retiring")
        if state != "retired":
            continue
        root = root.lower()
        known_roots.add(root)
        matching = by_root.get(root, [])
        if [r["retirementId"] for r in matching] != [retirement_id]:
            differences.append(f"campaign {campaign_id}: retirements {matching} on chain under its root")
        else:
            paid = state_rows(node, "SELECT COALESCE(SUM(grams), 0) FROM subscription WHERE campaign_id = ?"
                              " AND leaf_index IS NOT NULL", (campaign_id,))[0][0]  # fmt: skip
            if matching[0]["amount"] != paid:
                differences.append(f"campaign {campaign_id}: {paid} g subscribed, {matching[0]['amount']} retired")
    for root, matching in by_root.items():
        if root != ZERO32 and root not in known_roots:
            differences.append(f"retirements {[r['retirementId'] for r in matching]} under root {root}: no record")

    # (c) ---------------------------------------------------------------------------------------
    deals = node.ok("GET", "/v1/me/deals", "regulator")
    assert len(deals) < 500, "more deals than /v1/me/deals lists: page them"
    by_ref: dict[str, list[dict[str, Any]]] = {}
    for t in transferred:
        if t["dealRef"] != ZERO32:
            by_ref.setdefault(t["dealRef"], []).append(t)
    delivered_refs = set()
    for deal in deals:
        if deal["state"] == "delivering":
            differences.append(f"deal {deal['id']} is still delivering")
        if deal["state"] != "delivered":
            continue
        ref = deal["deal_ref"].lower()
        delivered_refs.add(ref)
        moves = by_ref.get(ref, [])
        txs = {t["tx_hash"] for t in moves}
        if len(txs) != 1:
            differences.append(f"deal {deal['id']}: {len(txs)} transfer transactions carry its reference")
            continue
        if sum(t["amount"] for t in moves) != deal["quantity"] or any(
            (t["from"], t["to"]) != (deal["seller"], deal["buyer"]) for t in moves
        ):
            differences.append(f"deal {deal['id']}: the transfer {moves} is not the deal's")
    for ref, moves in by_ref.items():
        if ref not in delivered_refs:
            differences.append(f"transfers {[t['tx_hash'] for t in moves]} carry {ref}: no delivered deal has it")

    # (d) ---------------------------------------------------------------------------------------
    live = live_intents(node)
    if live:
        rows = state_rows(node, "SELECT id, kind, state FROM intent WHERE state IN ('reserved', 'sent')")
        differences.append(f"{live} intents still live: {rows}")
    return differences
