"""A market history written through the real Applier into a real SQLite index with the risk engine on,
one event at a time in chain order. Deal facts (the node's off-chain knowledge) come from a dict."""

import itertools
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from node.index.apply import Applier
from node.index.db import connect_writer
from node.index.decode import IndexedEvent, RawLog
from node.risk.engine import Backing, DealFact, RiskEngine
from registry.units import deal_total_fen

T0 = 1_767_196_800  # 2026-01-01 00:00 in Asia/Shanghai (2025-12-31 16:00 UTC)
DAY = 86_400
TONNE = 1_000_000
BUFFER = "0x" + "bf" * 20


def account(n: int) -> str:
    return "0x" + f"{n:040x}"


@dataclass
class FakeFacts:
    deals: dict[str, DealFact] = field(default_factory=dict)
    stocks: dict[str, tuple[int, int]] = field(default_factory=dict)
    kinds: dict[int, str] = field(default_factory=dict)
    backings: dict[str, Backing] = field(default_factory=dict)
    own_organisation: int | None = None

    def deal(self, deal_ref: str) -> DealFact | None:
        return self.deals.get(deal_ref)

    def backing(self, evidence_root: str) -> Backing | None:
        return self.backings.get(evidence_root)

    def organisation(self) -> int | None:
        return self.own_organisation

    def tree_stock(self, evidence_root: str) -> tuple[int, int] | None:
        return self.stocks.get(evidence_root)

    def project_kind(self, project_id: int) -> str:
        return self.kinds.get(project_id, "park")


class Market:
    def __init__(self, path: Path, rules: dict[str, Any] | None = None) -> None:
        self.path = path
        self.facts = FakeFacts()
        self.engine = RiskEngine(self.facts, rules)
        self.db = connect_writer(path)
        self.applier = Applier(self.db, 31337, "Asia/Shanghai", self.engine)
        self.block = itertools.count(1)
        self.deal_ids = itertools.count(1)
        self.now = T0

    def close(self) -> None:
        self.db.close()

    def _emit(self, name: str, args: dict[str, Any], at: int | None = None) -> dict[str, Any]:
        self.now = at if at is not None else self.now + 60
        block = next(self.block)
        log = RawLog(block, "0x" + f"{block:064x}", self.now, "0x" + f"{block:064x}", 0, (), b"")
        self.db.execute("BEGIN")
        self.applier.apply([IndexedEvent(log, name, args)], "00" * 32)
        self.db.execute("COMMIT")
        return {"block": block, "tx": log.tx_hash}

    def register(self, who: str, organisation: int, at: int | None = None) -> None:
        self._emit("ParticipantRegistered", {"account": who, "organisation": organisation, "roles": 0,
                                             "admin": account(1)}, at)  # fmt: skip

    def issue(self, project: int, owner: str, grams: int, *, vintage_end: int = T0 - DAY, root: str | None = None,
              stock: tuple[int, int] | None = None, index: int = 1, kind: str = "park") -> int:  # fmt: skip
        batch = (project << 32) | index
        root = root or "0x" + f"{batch:064x}"
        if stock is not None:
            self.facts.stocks[root] = stock
        self.facts.kinds[project] = kind
        if index == 1:
            self._emit("ProjectRegistered", {"projectId": project, "owner": owner, "registrar": account(1),
                                             "metadataHash": "0x" + "00" * 32})  # fmt: skip
        buffer = grams // 10
        self._emit("BatchIssued", {
            "batchId": batch, "projectId": project, "verifier": account(2), "issuer": account(3), "owner": owner,
            "bufferAccount": BUFFER, "periodStart": vintage_end - 365 * DAY, "periodEnd": vintage_end,
            "quantity": grams, "bufferAmount": buffer, "evidenceRoot": root, "methodologyId": "0x" + "11" * 32,
            "verificationDigest": "0x" + "22" * 32})  # fmt: skip
        return batch

    def transfer(self, batch: int, sender: str, receiver: str, grams: int, *, at: int | None = None,
                 price: str | None = None, receipt_fen: int | None = None) -> dict[str, Any]:  # fmt: skip
        deal_ref = "0x" + "00" * 32
        if price is not None:
            deal_id = next(self.deal_ids)
            deal_ref = "0x" + f"{deal_id:064x}"
            fen = round(float(price) * 100)
            due = deal_total_fen(fen, grams)
            self.facts.deals[deal_ref] = DealFact(deal_id, fen, due if receipt_fen is None else receipt_fen)
        return self._emit("CertificateTransferred", {"batchId": batch, "from": sender, "to": receiver,
                                                     "amount": grams, "dealRef": deal_ref}, at)  # fmt: skip

    def alerts(self, rule: str | None = None) -> list[dict[str, Any]]:
        reader = sqlite3.connect(self.path)
        try:
            cursor = reader.execute(
                "SELECT * FROM alert" + (" WHERE rule = ?" if rule else "") + " ORDER BY block_number, key",
                (rule,) if rule else (),
            )
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
        finally:
            reader.close()
        for row in rows:
            for column in ("participants", "evidence", "deals", "details"):
                row[column] = orjson.loads(row[column])
        return rows
