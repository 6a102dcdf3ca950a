"""One write, from intent to answer.

    intent_id = writes.begin(kind=..., actor=..., reserve=...)   # the reservation and the intent, atomically
    status, answer = writes.run(intent_id, lambda: registry.transfer(...))

`run` journals the transaction under the intent (node.chain.sender.for_intent); a refusal before anything
could be mined fails the intent and releases its reservation; a transaction whose fate is not known yet
raises IntentAccepted (answered 202: it may still be mined, so it is never reported failed); a mined one
is settled by its kind's `complete`, in the same store transaction that records the answer, so a retry,
the reconciler and the request itself settle it once between them.
"""

import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from node.chain.sender import Receipt, for_intent
from node.errors import ChainUnavailable, Conflict, SinkError, TransactionPending
from node.store import Store
from node.store.context import CURRENT_KEY
from node.store.intents import LIVE

log = logging.getLogger("sinknode.writes")


Complete = Callable[[Any, dict[str, Any], Receipt, sqlite3.Connection], dict[str, Any]]
Release = Callable[[Any, dict[str, Any], sqlite3.Connection], None]


def _nothing_to_release(services: Any, intent: dict[str, Any], db: sqlite3.Connection) -> None:
    return None


@dataclass(frozen=True)
class Kind:
    name: str
    complete: Complete
    release: Release = _nothing_to_release


KINDS: dict[str, Kind] = {}


def kind(name: str, *, release: Release = _nothing_to_release) -> Callable[[Complete], Complete]:
    """Registers how a kind of write is settled once its transaction is mined (and how its reservation is
    given back if it fails). `complete` runs inside the store transaction that records the answer."""

    def register(complete: Complete) -> Complete:
        KINDS[name] = Kind(name, complete, release)
        return complete

    return register


class IntentAccepted(SinkError):
    """The write's transaction is journalled but not known to be mined: answered 202 with the intent."""

    code = "accepted"

    def __init__(self, view: dict[str, Any]) -> None:
        super().__init__(f"intent {view['intent_id']} is {view['state']}")
        self.view = view


class Writes:
    def __init__(
        self,
        store: Store,
        *,
        context: Any,
        wait_indexed: Callable[[int], None],
        indexed_block: Callable[[], int],
        error_status: Callable[[SinkError], int],
    ) -> None:
        self.store = store
        self.context = context  # what kinds' complete and release functions are handed (the services)
        self.wait_indexed = wait_indexed
        self.indexed_block = indexed_block
        self.error_status = error_status
        self._running: set[int] = set()  # intents a request of this process is carrying right now
        self._lock = threading.Lock()

    # ---------------------------------------------------------------------------------------------
    def begin(
        self,
        *,
        kind: str,
        actor: str,
        key_name: str,
        request: dict[str, Any],
        ok_status: int = 200,
        subject: str | None = None,
        reserve: Callable[[sqlite3.Connection, int], None] | None = None,
        busy: tuple[str, str] = ("write_in_progress", "another request is carrying out this write"),
    ) -> int:
        """The intent, with its reservation, in one transaction. `reserve(db, intent_id)` checks and takes
        what the write consumes (compare-and-set); it raises a coded error to refuse, and then nothing at
        all is recorded. A `subject` (a deal's delivery, a campaign's retirement) has one live intent at a
        time: another is refused with `busy` (code, message)."""
        assert kind in KINDS, kind
        with self.store.transaction() as db:
            if subject is not None and self.store.live_subject(subject) is not None:
                # Checked in the transaction that would create the intent: of concurrent requests one
                # creates it and the others are refused here, with the kind's own code (`busy`).
                raise Conflict(*busy)
            intent_id = self.store.create_intent(
                kind=kind,
                actor=actor,
                key_name=key_name,
                request=request,
                subject=subject,
                idempotency=CURRENT_KEY.get(),
                status=ok_status,
            )
            if reserve is not None:
                reserve(db, intent_id)
        return intent_id

    def run(self, intent_id: int, send: Callable[[], Receipt]) -> tuple[int, dict[str, Any]]:
        """Sends the intent's transaction and settles it; returns (status, answer). An intent begun but never
        run (its request failed in between) is released by the reconciler a few seconds later."""
        with self._lock:
            self._running.add(intent_id)
        try:
            with for_intent(intent_id):
                try:
                    receipt = send()
                except TransactionPending:
                    raise IntentAccepted(self.view(intent_id)) from None
                except SinkError as refused:
                    self.fail(intent_id, refused)
                    raise
                except BaseException as crashed:
                    if not self.store.txs_of_intent(intent_id):
                        self.fail(intent_id, SinkError(f"the write stopped before anything was sent: {crashed}"))
                    raise
            try:
                self.wait_indexed(receipt.block_number)
            except ChainUnavailable:
                raise IntentAccepted(self.view(intent_id)) from None
            return self.settle(intent_id, receipt)
        finally:
            with self._lock:
                self._running.discard(intent_id)

    def is_running(self, intent_id: int) -> bool:
        with self._lock:
            return intent_id in self._running

    # ---------------------------------------------------------------------------------------------
    def settle(self, intent_id: int, receipt: Receipt) -> tuple[int, dict[str, Any]]:
        """Records a mined intent's answer, once: the first to settle it wins, later callers read it."""
        with self.store.transaction() as db:
            intent = self.store.intent(intent_id)
            assert intent is not None
            if intent["state"] in LIVE:
                answer = KINDS[intent["kind"]].complete(self.context, intent, receipt, db)
                self.store.settle_intent(intent_id, state="done", status=intent["status"] or 200, answer=answer)
                intent = self.store.intent(intent_id)
                assert intent is not None
        return int(intent["status"]), intent["answer"]

    def fail(self, intent_id: int, error: SinkError) -> None:
        """Settles an intent as failed and gives its reservation back, once."""
        with self.store.transaction() as db:
            intent = self.store.intent(intent_id)
            if intent is None or intent["state"] not in LIVE:
                return
            answer = {"error": {"code": error.code, "message": error.message}}
            if self.store.settle_intent(intent_id, state="failed", status=self.error_status(error), answer=answer):
                KINDS[intent["kind"]].release(self.context, intent, db)
        log.info("intent %d (%s) failed: %s", intent_id, intent["kind"], error.message)

    # ---------------------------------------------------------------------------------------------
    def view(self, intent_id: int) -> dict[str, Any]:
        view = intent_view(self.store, intent_id)
        if view is None:
            raise KeyError(intent_id)
        return view


def intent_view(store: Store, intent_id: int) -> dict[str, Any] | None:
    """An intent as its caller sees it: state, transactions and, once settled, its status and answer (what
    `GET /v1/intents/{id}` and every 202 answer)."""
    intent = store.intent(intent_id)
    if intent is None:
        return None
    settled = intent["state"] not in LIVE
    return {
        "intent_id": intent["id"],
        "kind": intent["kind"],
        "state": intent["state"],
        "actor": intent["actor"],
        "created_at": intent["created_at"],
        "updated_at": intent["updated_at"],
        "transactions": [
            {
                "tx_hash": t["tx_hash"],
                "nonce": t["nonce"],
                "state": t["state"],
                "block_number": t["block_number"],
                "resent": bool(t["resent"]),
                "ids_changed": orjson.loads(t["id_check"]) if t["id_check"] not in (None, "same") else None,
            }
            for t in store.txs_of_intent(intent_id)
        ],
        "status": intent["status"] if settled else None,
        "answer": intent["answer"] if settled else None,
        "status_url": f"/v1/intents/{intent['id']}",
    }
