"""The reconciler: one thread that settles what requests left behind and applies what follows from the
index, so that no reader ever has to (a GET changes nothing).

Each pass (a few times a second, and right after the index moved):
- re-sends journalled transactions still pending after a while (node.writes.recovery);
- settles live intents no request of this process is carrying: mined ones are completed once the index
  holds their block, failed or dropped ones fail, and ones a dead process reserved without sending
  anything are released;
- drops idempotency keys answered more than a day ago (hourly);
- runs the registered domain steps (deliveries marked from indexed transfers, rebates, campaign
  deadlines), each idempotent: a compare-and-set on the row's state inside one store transaction.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson

from node.chain.rpc import RpcClient
from node.chain.sender import Receipt
from node.errors import ChainUnavailable, SinkError, TransactionError
from node.writes.recovery import Recovery
from node.writes.runner import Writes

log = logging.getLogger("sinknode.reconciler")
Step = Callable[[Any], None]
STEPS: dict[str, Step] = {}
_RESEND_AFTER_S = 2.0
_PRUNE_EVERY_S = 3600.0


def step(name: str) -> Callable[[Step], Step]:
    """Registers a domain reconciliation step (called with the services on every pass)."""

    def register(function: Step) -> Step:
        STEPS[name] = function
        return function

    return register


class Reconciler:
    def __init__(self, rpc: RpcClient, writes: Writes, recovery: Recovery, context: Any) -> None:
        self.rpc = rpc
        self.writes = writes
        self.store = writes.store
        self.recovery = recovery
        self.context = context
        self._lock = threading.Lock()  # one pass at a time (the thread, or a test that runs one)
        self._pruned_at = 0.0
        self._seen_at = 0.0

    def run(self, stop: threading.Event, period_s: float = 0.25) -> None:
        while not stop.is_set():
            try:
                self.reconcile()
            except ChainUnavailable as error:
                log.info("reconciler: chain unavailable (%s)", error.message)
                stop.wait(1.0)
            except Exception:  # a bug in one pass must not stop the next: logged with its traceback
                log.exception("reconciler pass failed")
                stop.wait(1.0)
            stop.wait(period_s)

    def reconcile(self) -> None:
        with self._lock:
            worker = self.store.worker_id
            if worker is not None and time.monotonic() - self._seen_at >= 1.0:
                self.store.worker_seen(worker)  # alive: the other workers leave the intents it carries alone
                self._seen_at = time.monotonic()
            pending = self.store.pending_txs()
            if pending and time.time() - pending[0]["created_at"] >= _RESEND_AFTER_S:
                self.recovery.resend_missing(None)
            self._settle_intents()
            self._verify_resent()
            for name, function in STEPS.items():
                try:
                    function(self.context)
                except SinkError as error:
                    log.warning("reconciler step %s: %s", name, error.message)
            if time.monotonic() - self._pruned_at > _PRUNE_EVERY_S:
                self.store.prune_keys()  # answered idempotency keys older than a day
                self.store.forget_workers()
                self._pruned_at = time.monotonic()

    def _settle_intents(self) -> None:
        indexed = self.writes.indexed_block()
        me = self.store.worker_id
        intents = self.store.live_intents()
        alive = self.store.live_workers() if me is not None and intents else set()
        for intent in intents:
            if self.writes.is_running(intent["id"]):
                continue
            carrier = intent.get("worker")
            if carrier is not None and carrier != me and carrier in alive:
                continue  # another live worker's request carries it and settles it itself
            txs = self.store.txs_of_intent(intent["id"])
            if not txs:
                if intent["state"] == "reserved" and time.time() - intent["created_at"] > 5:
                    self.writes.fail(intent["id"], SinkError("the node stopped before the write was sent"))
                continue
            tx = txs[-1]
            if tx["state"] in ("rejected", "dropped"):
                self.writes.fail(intent["id"], TransactionError(f"transaction {tx['tx_hash']} was {tx['state']}"))
                continue
            raw = self.rpc.call("eth_getTransactionReceipt", tx["tx_hash"])
            if raw is None:
                continue
            receipt = Receipt.from_rpc(raw)
            self.store.tx_mined(tx["tx_hash"], block_number=receipt.block_number, tx_index=receipt.tx_index,
                                status=receipt.status)  # fmt: skip
            if receipt.status != 1:
                self.writes.fail(intent["id"], TransactionError(f"transaction {tx['tx_hash']} was mined as failed"))
            elif receipt.block_number <= indexed:
                self.writes.settle(intent["id"], receipt)

    def _verify_resent(self) -> None:
        """Compares the ids a re-sent transaction's intent was answered with against what the chain gave it
        this time: the same on a chain this node alone writes to; reported (logged, counted in the status
        and shown on the intent) when another writer made them change."""
        for tx in self.store.resent_to_verify():
            intent = self.store.intent(tx["intent_id"]) if tx["intent_id"] is not None else None
            if intent is None or intent["state"] != "done" or not intent["answer"]:
                self.store.tx_id_check(tx["tx_hash"], "same")
                continue
            raw = self.rpc.call("eth_getTransactionReceipt", tx["tx_hash"])
            if raw is None:
                continue
            on_chain = chain_ids(self.context.registry.events(Receipt.from_rpc(raw)))
            answered = answered_ids(intent["answer"])
            changed = {k: {"answered": answered[k], "on_chain": on_chain.get(k, [])}
                       for k in answered if sorted(answered[k]) != sorted(on_chain.get(k, []))}  # fmt: skip
            if changed:
                log.warning("intent %d: ids changed after its transaction was re-sent: %s", intent["id"], changed)
            self.store.tx_id_check(tx["tx_hash"], orjson.dumps(changed).decode() if changed else "same")


_ID_EVENTS = {"CertificateRetired": ("retirementId", "retirement_id"), "BatchIssued": ("batchId", "batch_id"),
              "ProjectRegistered": ("projectId", "project_id")}  # fmt: skip


def chain_ids(events: list[Any]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for event in events:
        if event.name in _ID_EVENTS:
            arg, key = _ID_EVENTS[event.name]
            found.setdefault(key, []).append(int(event.args[arg]))
    return found


def answered_ids(answer: Any) -> dict[str, list[int]]:
    """Every retirement, batch and project id an answer names (at any depth); a retirement's `batch_id` is
    counted only where the answer is an issuance's."""
    found: dict[str, list[int]] = {}

    def walk(value: Any, issued: bool) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in ("retirement_id", "project_id") or (key == "batch_id" and issued):
                    if isinstance(item, int):
                        found.setdefault(key, []).append(item)
                else:
                    walk(item, issued)
        elif isinstance(value, list):
            for item in value:
                walk(item, issued)

    result = answer.get("result", {}) if isinstance(answer, dict) else {}
    walk(answer, issued=isinstance(result, dict) and set(result) == {"batch_id"})
    return found
