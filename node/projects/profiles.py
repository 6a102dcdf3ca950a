"""Off-chain profiles the node keeps. A project's: the name, region and kind a buyer filters on; its canonical
JSON hashes to the project's on-chain metadata hash, so anyone can check it against the chain. A participant's:
the display name the administrator gave it at registration."""

from collections.abc import Iterable
from typing import Any

from node.services import Services


def project_profile(services: Services, project_id: int) -> dict[str, Any] | None:
    rows = services.state.rows(
        "SELECT name, region, kind, metadata_hash FROM project_profile WHERE project_id = ?", (project_id,)
    )
    return rows[0] if rows else None


def display_names(services: Services, addresses: Iterable[str]) -> dict[str, str]:
    """address → display name, for the addresses this node has a name for."""
    wanted = sorted({address.lower() for address in addresses if address})
    if not wanted:
        return {}
    marks = ",".join("?" * len(wanted))
    rows = services.state.rows(
        f"SELECT account, display_name FROM participant_profile WHERE account IN ({marks})", tuple(wanted)
    )
    return {row["account"]: row["display_name"] for row in rows}
