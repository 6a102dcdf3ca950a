"""Public price statistics: the only view of deal prices the public gets.

Per calendar month (in the node's aggregate timezone), vintage and project kind: the count, median and
range of the prices of delivered deals, and only for months that have ended with at least
MIN_DEALS deals in the group, so no single deal's price can be read off. Nothing finer is published.
"""

import statistics
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from node.services import Services

MIN_DEALS = 5


def _month(at: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(at, zone).strftime("%Y-%m")


def price_summary(prices_fen: list[int]) -> dict[str, Any]:
    """Count, median and range of prices in fen per tonne, shown in CNY per tonne."""
    return {
        "deals": len(prices_fen),
        "median_cny_per_tonne": f"{statistics.median(prices_fen) / 100:.2f}",
        "min_cny_per_tonne": f"{min(prices_fen) / 100:.2f}",
        "max_cny_per_tonne": f"{max(prices_fen) / 100:.2f}",
    }


def price_statistics(services: Services, now: int | None = None) -> list[dict[str, Any]]:
    zone = ZoneInfo(services.settings.aggregate_timezone)
    current = _month(int(time.time()) if now is None else now, zone)
    rows = services.state.rows(
        "SELECT d.id, d.price_fen_per_tonne, l.vintage, l.kind, MAX(s.at) AS delivered_at"
        " FROM deal d JOIN listing l ON l.id = d.listing_id JOIN deal_step s ON s.deal_id = d.id"
        " WHERE d.state = 'delivered' AND s.state = 'delivered' GROUP BY d.id, d.price_fen_per_tonne, l.vintage,"
        " l.kind"
    )
    groups: dict[tuple[str, int, str], list[int]] = {}
    for row in rows:
        month = _month(row["delivered_at"], zone)
        if month >= current:
            continue  # the month is still open
        price = int(services.sealer.open(row["price_fen_per_tonne"], f"deal.price:{row['id']}"))
        groups.setdefault((month, row["vintage"], row["kind"] or "unspecified"), []).append(price)
    return [
        {
            "month": month,
            "vintage": vintage,
            "kind": kind,
            **price_summary(prices),
        }
        for (month, vintage, kind), prices in sorted(groups.items())
        if len(prices) >= MIN_DEALS
    ]
