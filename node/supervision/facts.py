"""What the risk rules need to know off chain, read from the node's own state: a deal's price and its
custodian receipt by the deal reference its transfer carries (unsealed here, never stored in clear), the
tree carbon stock and the computed figure of a batch's monitoring data, a project's kind, and the node's
own organisation."""

from functools import lru_cache, partial
from typing import Any

import orjson

from node.risk.config import load_rules
from node.risk.engine import Backing, DealFact, RiskEngine, Rules
from node.risk.worker import RiskWorker
from node.settings import Settings
from node.store import Store
from node.store.sealed import Sealer

GRAMS_PER_TONNE = 1_000_000


def tree_stock_grams(result: dict[str, Any]) -> tuple[int, int]:
    """(stock at the start, stock at the end of the period) of the trees in grams CO2e, from an accounting
    result (registry.accounting)."""
    trees = result["pools"]["trees"]
    return round(trees["stock_t1_tco2"] * GRAMS_PER_TONNE), round(trees["stock_t2_tco2"] * GRAMS_PER_TONNE)


class NodeFacts:
    def __init__(self, state: Store, sealer: Sealer, organisation: int | None = None) -> None:
        self.state = state
        self.sealer = sealer
        self._organisation = organisation
        self.project_kind = lru_cache(maxsize=4096)(self._project_kind)  # type: ignore[method-assign]

    def deal(self, deal_ref: str) -> DealFact | None:
        rows = self.state.rows(
            "SELECT id, price_fen_per_tonne, receipt FROM deal WHERE deal_ref = ? ORDER BY id LIMIT 1", (deal_ref,)
        )
        if not rows:
            return None
        row = rows[0]
        price = int(self.sealer.open(row["price_fen_per_tonne"], f"deal.price:{row['id']}"))
        receipt = (
            orjson.loads(self.sealer.open(row["receipt"], f"deal.receipt:{row['id']}")) if row["receipt"] else None
        )
        return DealFact(row["id"], price, receipt["amount_fen"] if receipt else None)

    def tree_stock(self, evidence_root: str) -> tuple[int, int] | None:
        record = self.state.accounting(evidence_root)
        return None if record is None else tree_stock_grams(record["result"])

    def backing(self, evidence_root: str) -> Backing | None:
        record = self.state.accounting(evidence_root)
        return None if record is None else Backing(int(record["project_id"]), int(record["creditable_grams"]))

    def organisation(self) -> int | None:
        return self._organisation

    def _project_kind(self, project_id: int) -> str:
        rows = self.state.rows("SELECT kind FROM project_profile WHERE project_id = ?", (project_id,))
        return rows[0]["kind"] if rows else ""


def build_engine(settings: Settings) -> RiskEngine:
    """The node's rule engine with facts from its own state: in the indexer's thread or a rule process."""
    facts = NodeFacts(Store(settings.store_location), Sealer.from_settings(settings), settings.organisation)
    return RiskEngine(facts, load_rules(settings.risk_rules))


def risk_rules(settings: Settings) -> Rules | None:
    """The rules the indexer runs: none, the engine in its own thread, or (by default) a rule process."""
    if not settings.risk_enabled:
        return None
    if settings.risk_process:
        return RiskWorker(partial(build_engine, settings))
    return build_engine(settings)
