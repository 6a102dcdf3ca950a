"""Events to rows: writes decoded events and the state derived from them, inside the caller's transaction.

High-volume effects (balances, supplies, daily aggregates) are summed per chunk in memory and written
once per key with upserts; rare effects (registrations, statuses, freezes) are written in event order
as they come. Balances that reach zero are removed, so the tables are the same however the history
was cut into chunks.

Risk rules in a process of their own (anything with a `submit`, node.risk.worker.RiskWorker) are handed a
range's events at once, when its apply begins, or earlier: `apply(..., ahead=next_events)` submits the next
range too, so that the rules check it while this range is written and committed. Either way a range's
alerts are taken, and inserted in its transaction, only after its rows are written.
"""

import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from node.index.decode import IndexedEvent
from node.index.digest import RunningDigest
from node.index.insert_stream import SqliteInsertStream
from node.risk.engine import Rules, insert_alerts

_INT64_MAX = 2**63 - 1
_INHERIT_BUFFER_SHARE = 2**16 - 1  # a project's share holding this inherits the registry's (ProjectBufferShareSet)

# Daily aggregate columns, in table order.
ISSUED, ISSUANCES, TRANSFERRED, TRANSFERS, RETIRED, RETIREMENTS, REVERSED, REVERSALS = range(8)
_STAT_COLUMNS = (
    "issued",
    "issuances",
    "transferred",
    "transfers",
    "retired",
    "retirements",
    "reversed",
    "reversals",
)


def day_function(timezone: str) -> Callable[[int], str]:
    zone = ZoneInfo(timezone)

    @lru_cache(maxsize=4096)
    def day_of(timestamp: int) -> str:
        return datetime.fromtimestamp(timestamp, UTC).astimezone(zone).strftime("%Y-%m-%d")

    return day_of


def _json_safe(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value > _INT64_MAX:
        return str(value)
    return value


def rule_events(events: Iterable[IndexedEvent]) -> list[tuple[Any, ...]]:
    """Events as the rules observe them: (name, args, block, log index, tx hash, block time)."""
    return [(e.name, e.args, e.log.block_number, e.log.log_index, e.log.tx_hash, e.log.block_time) for e in events]


def encode_args(args: dict[str, Any]) -> str:
    try:
        # Nearly every event's integers fit in 53 bits: written as they are, without a copy of the dict.
        return orjson.dumps(args, option=orjson.OPT_STRICT_INTEGER).decode()
    except orjson.JSONEncodeError:
        return orjson.dumps({k: _json_safe(v) for k, v in args.items()}).decode()


_EVENT_COLUMNS = ("chain_id", "block_number", "block_hash", "block_time", "tx_hash", "log_index", "name", "batch_id",
                  "project_id", "account", "counterparty", "amount", "args", "digest")  # fmt: skip
_RETIREMENT_COLUMNS = ("id", "batch_id", "holder", "amount", "beneficiary", "beneficiary_hash", "reason",
                       "consumption_start", "consumption_end", "region", "block_number", "block_time",
                       "tx_hash")  # fmt: skip


# Events whose handlers only add to the chunk (no statement of their own): nearly all of a busy registry's.
_TRANSFERRED = "CertificateTransferred"
_CHUNK_ONLY = frozenset({"CertificateTransferred", "CertificateRetired", "ReversalRecorded"})


class Chunk:
    """Summed effects of one chunk of events, flushed together."""

    def __init__(self) -> None:
        self.balances: defaultdict[tuple[int, str], int] = defaultdict(int)
        self.supply: defaultdict[int, list[int]] = defaultdict(lambda: [0, 0])  # retired, reversed
        self.stats: defaultdict[tuple[str, int], list[int]] = defaultdict(lambda: [0] * 8)
        self.retirements: list[tuple[Any, ...]] = []


class Applier:
    def __init__(self, connection: sqlite3.Connection, chain_id: int, timezone: str, risk: Rules | None = None,
                 *, insert_thread: bool = False) -> None:  # fmt: skip
        """`insert_thread`: SQLite rows are inserted by a helper thread (the connection must allow it)."""
        self.db = connection
        self._insert_thread = insert_thread
        # The event log and retirements are stored while the range is still being applied: by COPY on PostgreSQL
        # (node.store.dialect.CopyStream), by a helper thread on SQLite (node.index.insert_stream).
        self._executor: ThreadPoolExecutor | None = None
        self._stream: Callable[[str, tuple[str, ...]], Any] = getattr(connection, "copy_stream", self._sqlite_stream)
        self.risk = risk
        # A range already submitted to the rules (by an earlier apply's `ahead`): the next apply must be of it.
        self._submitted: Sequence[IndexedEvent] | None = None
        self.chain_id = chain_id
        self.day_of = day_function(timezone)
        self._handlers: dict[str, Callable[[IndexedEvent, Chunk], None]] = {
            "ParticipantRegistered": self._participant_registered,
            "RolesChanged": self._roles_changed,
            "RegistryPaused": self._paused,
            "RegistryUnpaused": self._paused,
            "BufferConfigured": self._buffer_configured,
            "ProjectRegistered": self._project_registered,
            "ProjectMetadataUpdated": self._project_metadata,
            "ProjectStatusChanged": self._project_status,
            "ProjectBufferShareSet": self._project_buffer_share,
            "BatchIssued": self._batch_issued,
            "CertificateTransferred": self._transferred,
            "CertificateRetired": self._retired,
            "AccountFreezeChanged": self._account_freeze,
            "BatchStatusChanged": self._batch_status,
            "ReversalRecorded": self._reversal,
            "PledgeRegistered": self._pledge_registered,
            "PledgeReleased": self._pledge_closed,
            "PledgeDefaulted": self._pledge_defaulted,
            "PledgeEnforced": self._pledge_closed,
        }

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None

    def _sqlite_stream(self, table: str, columns: tuple[str, ...]) -> SqliteInsertStream:
        if self._executor is None and self._insert_thread:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="index-insert")
        return SqliteInsertStream(self.db, self._executor, table, columns)

    @property
    def pipelined(self) -> bool:
        """Whether the rules take whole ranges, and the next one ahead (a rule process)."""
        return getattr(self.risk, "submit", None) is not None

    @property
    def submitted_ahead(self) -> bool:
        """Whether the rules hold a range not applied yet (they must be warmed again if it never is)."""
        return self._submitted is not None and getattr(self.risk, "submitted", 0) > 0

    def apply(self, events: Sequence[IndexedEvent], digest: str, *, store_events: bool = True,
              ahead: Sequence[IndexedEvent] | None = None) -> tuple[str, int]:  # fmt: skip
        """Applies events in order; returns the new running digest and how many were applied.

        `ahead`, the next range's events, goes to a rule process before this range's alerts are waited for;
        the next call must then apply exactly that sequence (the same object)."""
        chunk = Chunk()
        count = 0
        risk = self.risk
        if risk is not None and self.pipelined:
            # The range went ahead unless the rules were reset or warmed since (which drops what they were sent).
            if self._submitted is not events or not risk.submitted:  # type: ignore[attr-defined]
                if self.submitted_ahead:
                    raise RuntimeError("the rules were handed a range that was not applied: warm them again first")
                risk.submit(rule_events(events))  # type: ignore[attr-defined]
            self._submitted = None
            if ahead is not None:
                risk.submit(rule_events(ahead))  # type: ignore[attr-defined]
                self._submitted = ahead
            risk = None  # the events are on their way: nothing to observe one by one
        # The event log's rows are stored while the rest of the range is worked out.
        stream = self._stream("chain_event", _EVENT_COLUMNS) if store_events else None
        running = RunningDigest(digest)
        add = running.add
        write = stream.write if stream is not None else None
        balances, stats, day_of, chain_id = chunk.balances, chunk.stats, self.day_of, self.chain_id
        try:
            for event in events:
                log, name, args = event.log, event.name, event.args
                digest = add(log)
                if name == _TRANSFERRED and write is not None and risk is None:
                    # The bulk of a busy registry, inline: _transferred's effects and _event_row's row.
                    batch, amount, sender, recipient = args["batchId"], args["amount"], args["from"], args["to"]
                    balances[(batch, sender)] -= amount
                    balances[(batch, recipient)] += amount
                    project = batch >> 32
                    values = stats[(day_of(log.block_time), project)]
                    values[TRANSFERRED] += amount
                    values[TRANSFERS] += 1
                    write((chain_id, log.block_number, log.block_hash, log.block_time, log.tx_hash, log.log_index,
                           name, batch, project, sender, recipient, amount, encode_args(args), digest))  # fmt: skip
                    count += 1
                    continue
                handler = self._handlers.get(event.name)
                if handler is not None:
                    if stream is not None and event.name not in _CHUNK_ONLY:
                        stream.pause()  # the handler runs statements of its own
                    handler(event, chunk)
                if risk is not None:
                    log = event.log
                    risk.observe(event.name, event.args, log.block_number, log.log_index, log.tx_hash, log.block_time)
                if stream is not None:
                    stream.write(self._event_row(event, digest))
                count += 1
            if stream is not None:
                stream.pause()
        except BaseException:
            if stream is not None:
                stream.abort()
            raise
        self._flush(chunk)
        return digest, count

    def replay(self, rows: Iterable[tuple[str, str, int, str, int, int]]) -> None:
        """Re-derives state from stored events (name, args JSON, block, tx, log index, time)."""
        chunk = Chunk()
        if self.risk is not None:
            self.risk.reset()
            self._submitted = None
        for name, args_json, block, tx_hash, log_index, block_time in rows:
            handler = self._handlers.get(name)
            if handler is None:
                continue
            args = orjson.loads(args_json)
            handler(_Stored(name, args, block, tx_hash, log_index, block_time), chunk)  # type: ignore[arg-type]
            if self.risk is not None:
                self.risk.observe(name, args, block, log_index, tx_hash, block_time)
        self._flush(chunk)

    # --------------------------------------------------------------------------------------------
    def _event_row(self, event: IndexedEvent, digest: str) -> tuple[Any, ...]:
        log, args = event.log, event.args
        batch = args.get("batchId")
        project = args.get("projectId", args.get("lossProjectId"))
        if project is None and batch is not None:
            project = batch >> 32
        account = args.get("from", args.get("holder", args.get("account", args.get("owner"))))
        counterparty = args.get("to", args.get("bank"))
        amount = args.get("amount", args.get("quantity"))
        return (
            self.chain_id, log.block_number, log.block_hash, log.block_time, log.tx_hash, log.log_index,
            event.name, batch, project, account, counterparty, amount, encode_args(args), digest,
        )  # fmt: skip

    def _flush(self, chunk: Chunk) -> None:
        db = self.db
        if self.risk is not None:
            self.risk.flush()  # the rules work on the range's tail while its rows are written
        if chunk.retirements:
            self._insert("retirement", _RETIREMENT_COLUMNS, chunk.retirements)
        if chunk.balances:
            changes = [(batch, account, delta) for (batch, account), delta in chunk.balances.items()]
            db.executemany(
                "INSERT INTO balance (batch_id, account, amount) VALUES (?,?,?)"
                " ON CONFLICT (batch_id, account) DO UPDATE SET amount = balance.amount + excluded.amount",
                changes,
            )
            db.executemany(
                "DELETE FROM balance WHERE batch_id = ? AND account = ? AND amount = 0",
                [(batch, account) for batch, account, _ in changes],
            )
        if chunk.supply:
            db.executemany(
                "UPDATE batch SET retired = retired + ?, reversed = reversed + ? WHERE id = ?",
                [(retired, reversed_, batch) for batch, (retired, reversed_) in chunk.supply.items()],
            )
        if chunk.stats:
            columns = ", ".join(_STAT_COLUMNS)
            updates = ", ".join(f"{c} = daily_project_stats.{c} + excluded.{c}" for c in _STAT_COLUMNS)
            db.executemany(
                f"INSERT INTO daily_project_stats (day, project_id, {columns}) VALUES (?,?,?,?,?,?,?,?,?,?)"
                f" ON CONFLICT (day, project_id) DO UPDATE SET {updates}",
                [(day, project, *values) for (day, project), values in chunk.stats.items()],
            )
        if self.risk is not None:
            insert_alerts(db, self.risk)

    def _insert(self, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        stream = self._stream(table, columns)
        try:
            for row in rows:
                stream.write(row)
            stream.pause()
        except BaseException:
            stream.abort()
            raise

    def _stat(self, chunk: Chunk, event: IndexedEvent, project: int, column: int, amount: int) -> None:
        values = chunk.stats[(self.day_of(event.log.block_time), project)]
        values[column] += amount
        values[column + 1] += 1

    # handlers -----------------------------------------------------------------------------------
    def _pledge_registered(self, event: IndexedEvent, _: Chunk) -> None:
        a, log = event.args, event.log
        self.db.execute(
            "INSERT INTO pledge (id, batch_id, holder, bank, amount, state, registered_block, registered_time,"
            " registered_tx) VALUES (?,?,?,?,?, 'active', ?,?,?)",
            (a["pledgeId"], a["batchId"], a["holder"], a["bank"], a["amount"], log.block_number, log.block_time,
             log.tx_hash),
        )  # fmt: skip

    def _pledge_defaulted(self, event: IndexedEvent, _: Chunk) -> None:
        a = event.args
        self.db.execute("UPDATE pledge SET state = 'defaulted', default_reason = ? WHERE id = ?",
                        (a["reason"], a["pledgeId"]))  # fmt: skip

    def _pledge_closed(self, event: IndexedEvent, _: Chunk) -> None:
        state = "released" if event.name == "PledgeReleased" else "enforced"
        self.db.execute(
            "UPDATE pledge SET state = ?, closed_block = ?, closed_time = ? WHERE id = ?",
            (state, event.log.block_number, event.log.block_time, event.args["pledgeId"]),
        )

    def _participant_registered(self, event: IndexedEvent, _: Chunk) -> None:
        a = event.args
        self.db.execute(
            "INSERT INTO participant (address, organisation, roles, frozen, registered_block, registered_time)"
            " VALUES (?,?,?,0,?,?)",
            (a["account"], a["organisation"], a["roles"], event.log.block_number, event.log.block_time),
        )

    def _roles_changed(self, event: IndexedEvent, _: Chunk) -> None:
        self.db.execute(
            "UPDATE participant SET roles = ? WHERE address = ?", (event.args["roles"], event.args["account"])
        )

    def _paused(self, event: IndexedEvent, _: Chunk) -> None:
        self.db.execute(
            "INSERT INTO ledger_settings (id, paused, buffer_share_bps) VALUES (1, ?, 0)"
            " ON CONFLICT (id) DO UPDATE SET paused = excluded.paused",
            (event.name == "RegistryPaused",),
        )

    def _buffer_configured(self, event: IndexedEvent, _: Chunk) -> None:
        self.db.execute(
            "INSERT INTO ledger_settings (id, paused, buffer_account, buffer_share_bps) VALUES (1, 0, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET buffer_account = excluded.buffer_account,"
            " buffer_share_bps = excluded.buffer_share_bps",
            (event.args["account"], event.args["shareBps"]),
        )

    def _project_registered(self, event: IndexedEvent, _: Chunk) -> None:
        a = event.args
        self.db.execute(
            "INSERT INTO project (id, owner, metadata_hash, status, issued_until, batch_count, registered_block,"
            " registered_time) VALUES (?,?,?,1,0,0,?,?)",
            (a["projectId"], a["owner"], a["metadataHash"], event.log.block_number, event.log.block_time),
        )

    def _project_metadata(self, event: IndexedEvent, _: Chunk) -> None:
        self.db.execute(
            "UPDATE project SET metadata_hash = ? WHERE id = ?",
            (event.args["metadataHash"], event.args["projectId"]),
        )

    def _project_status(self, event: IndexedEvent, _: Chunk) -> None:
        self.db.execute("UPDATE project SET status = ? WHERE id = ?", (event.args["status"], event.args["projectId"]))

    def _project_buffer_share(self, event: IndexedEvent, _: Chunk) -> None:
        share = event.args["shareBps"]
        self.db.execute(
            "UPDATE project SET buffer_share_bps = ? WHERE id = ?",
            (None if share == _INHERIT_BUFFER_SHARE else share, event.args["projectId"]),
        )

    def _batch_issued(self, event: IndexedEvent, chunk: Chunk) -> None:
        a, log = event.args, event.log
        batch, project = a["batchId"], a["projectId"]
        index = batch & 0xFFFFFFFF
        # The share in force at issuance, as the contract chose it: the project's own, else the registry's.
        self.db.execute(
            "INSERT INTO batch (id, project_id, period_index, period_start, period_end, quantity, buffer_amount,"
            " owner, buffer_account, verifier, issuer, evidence_root, methodology_id, verification_digest, status,"
            " retired, reversed, issued_block, issued_time, issued_tx, buffer_share_bps)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,0,0,0,?,?,?,"
            " (SELECT COALESCE(p.buffer_share_bps, s.buffer_share_bps) FROM project p"
            "  LEFT JOIN ledger_settings s ON s.id = 1 WHERE p.id = ?))",
            (
                batch, project, index, a["periodStart"], a["periodEnd"], a["quantity"], a["bufferAmount"],
                a["owner"], a["bufferAccount"], a["verifier"], a["issuer"], a["evidenceRoot"], a["methodologyId"],
                a["verificationDigest"], log.block_number, log.block_time, log.tx_hash, project,
            ),
        )  # fmt: skip
        self.db.execute(
            "UPDATE project SET batch_count = ?, issued_until = ? WHERE id = ?",
            (index, a["periodEnd"], project),
        )
        chunk.balances[(batch, a["owner"])] += a["quantity"] - a["bufferAmount"]
        if a["bufferAmount"]:
            chunk.balances[(batch, a["bufferAccount"])] += a["bufferAmount"]
        self._stat(chunk, event, project, ISSUED, a["quantity"])

    def _transferred(self, event: IndexedEvent, chunk: Chunk) -> None:
        a = event.args
        batch, amount = a["batchId"], a["amount"]
        chunk.balances[(batch, a["from"])] -= amount
        chunk.balances[(batch, a["to"])] += amount
        self._stat(chunk, event, batch >> 32, TRANSFERRED, amount)

    def _retired(self, event: IndexedEvent, chunk: Chunk) -> None:
        a, log = event.args, event.log
        batch, amount = a["batchId"], a["amount"]
        chunk.balances[(batch, a["holder"])] -= amount
        chunk.supply[batch][0] += amount
        chunk.retirements.append((
            a["retirementId"], batch, a["holder"], amount, a["beneficiary"], a["beneficiaryHash"], a["reason"],
            a["consumptionStart"], a["consumptionEnd"], a["region"], log.block_number, log.block_time, log.tx_hash,
        ))  # fmt: skip
        self._stat(chunk, event, batch >> 32, RETIRED, amount)

    def _account_freeze(self, event: IndexedEvent, _: Chunk) -> None:
        a, log = event.args, event.log
        self.db.execute("UPDATE participant SET frozen = ? WHERE address = ?", (a["frozen"], a["account"]))
        self._set_freeze("account", a["account"], a["frozen"], a["regulator"], a["reason"], log.block_number,
                         log.block_time)  # fmt: skip

    def _batch_status(self, event: IndexedEvent, _: Chunk) -> None:
        a, log = event.args, event.log
        self.db.execute("UPDATE batch SET status = ? WHERE id = ?", (a["status"], a["batchId"]))
        self._set_freeze("batch", str(a["batchId"]), a["status"] == 1, a["regulator"], a["reason"],
                         log.block_number, log.block_time)  # fmt: skip

    def _set_freeze(self, kind: str, target: str, frozen: bool, regulator: str, reason: str, block: int,
                    time: int) -> None:  # fmt: skip
        if frozen:
            self.db.execute(
                'INSERT INTO "freeze" (kind, target, regulator, reason, since_block, since_time) VALUES (?,?,?,?,?,?)'
                " ON CONFLICT (kind, target) DO UPDATE SET regulator = excluded.regulator, reason = excluded.reason,"
                " since_block = excluded.since_block, since_time = excluded.since_time",
                (kind, target, regulator, reason, block, time),
            )
        else:
            self.db.execute('DELETE FROM "freeze" WHERE kind = ? AND target = ?', (kind, target))

    def _reversal(self, event: IndexedEvent, chunk: Chunk) -> None:
        a = event.args
        batch, amount = a["batchId"], a["amount"]
        chunk.balances[(batch, a["bufferAccount"])] -= amount
        chunk.supply[batch][1] += amount
        self._stat(chunk, event, batch >> 32, REVERSED, amount)


class _StoredLog:
    __slots__ = ("block_hash", "block_number", "block_time", "log_index", "tx_hash")

    def __init__(self, block: int, tx_hash: str, log_index: int, block_time: int) -> None:
        self.block_number = block
        self.block_hash = ""
        self.tx_hash = tx_hash
        self.log_index = log_index
        self.block_time = block_time


class _Stored:
    """An event read back from the index, shaped like IndexedEvent for the handlers."""

    __slots__ = ("args", "log", "name")

    def __init__(self, name: str, args: dict[str, Any], block: int, tx_hash: str, log_index: int,
                 block_time: int) -> None:  # fmt: skip
        self.name = name
        self.args = args
        self.log = _StoredLog(block, tx_hash, log_index, block_time)
