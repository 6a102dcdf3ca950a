"""Project profiles: the name, region and kind a buyer filters on, kept by the node; their canonical JSON
hashes to the project's on-chain metadata hash, so anyone can check a profile against the chain."""

from typing import Any

from node.services import Services


def project_profile(services: Services, project_id: int) -> dict[str, Any] | None:
    rows = services.state.rows(
        "SELECT name, region, kind, metadata_hash FROM project_profile WHERE project_id = ?", (project_id,)
    )
    return rows[0] if rows else None
