"""The risk rules' configuration: one TOML file (node/risk/rules.toml by default) with every rule's
meaning, thresholds, windows, severity and source."""

import tomllib
from pathlib import Path
from typing import Any

DEFAULT_RULES = Path(__file__).with_name("rules.toml")
RULES = (
    "round_trip",
    "wash_loop",
    "same_day_resale",
    "price_band",
    "velocity",
    "counterparty_concentration",
    "new_account_volume",
    "related_parties",
    "disguised_financing",
    "holding_concentration",
    "ecological_loss",
    "issuance_not_backed",
)


def load_rules(path: Path | None = None) -> dict[str, dict[str, Any]]:
    with (path or DEFAULT_RULES).open("rb") as handle:
        rules = tomllib.load(handle)
    missing = [name for name in RULES if name not in rules]
    if missing:
        raise ValueError(f"{path or DEFAULT_RULES}: rules missing: {', '.join(missing)}")
    for name in RULES:
        for key in ("meaning", "severity", "source"):
            if key not in rules[name]:
                raise ValueError(f"rule {name}: {key} is required")
    return rules
