"""Carbon points (碳普惠): an off-chain ledger kept by the node, credited only for retirements the index
already holds, so there are never points without a matching on-chain retirement."""

import sqlite3

from node.errors import Unavailable
from node.services import Services

GRAMS_PER_POINT = 10


def require_indexed(reader: sqlite3.Connection, retirement_ids: list[int]) -> None:
    marks = ",".join("?" * len(retirement_ids))
    found = {r[0] for r in reader.execute(f"SELECT id FROM retirement WHERE id IN ({marks})", retirement_ids)}
    if found != set(retirement_ids):
        raise Unavailable("not_indexed", "the retirement is not in the index yet: no points without it")


def award_points(
    services: Services, reader: sqlite3.Connection, awards: dict[str, int], source: str, retirement_ids: list[int]
) -> None:
    """Credits each holder one point per 10 g of `awards[holder]`, once the retirements are indexed."""
    require_indexed(reader, retirement_ids)
    services.state.award_points(
        [(holder, grams // GRAMS_PER_POINT, grams, source, retirement_ids) for holder, grams in awards.items()]
    )


# 积分返利: a seller earns one point per REBATE_GRAMS_PER_POINT grams that leave its listings (delivered
# deals, retired campaigns), when it is a small supplier: its projects issued at most SMALL_SUPPLIER_GRAMS.
REBATE_GRAMS_PER_POINT = 100
SMALL_SUPPLIER_GRAMS = 100_000 * 1_000_000  # 100,000 t CO2e


def award_rebate(services: Services, reader: sqlite3.Connection, seller: str, grams: int, source: str) -> int:
    """Credits a small supplier's rebate on the shoppers' points ledger; returns the points (0 if none)."""
    issued = reader.execute(
        "SELECT COALESCE(SUM(b.quantity), 0) FROM batch b JOIN project p ON p.id = b.project_id WHERE p.owner = ?",
        (seller,),
    ).fetchone()[0]
    points = grams // REBATE_GRAMS_PER_POINT
    if issued > SMALL_SUPPLIER_GRAMS or points == 0:
        return 0
    services.state.award_points([(seller, points, grams, f"rebate: {source}", [])])
    return points
