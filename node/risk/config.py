"""The risk rules' configuration: one TOML file (node/risk/rules.toml by default) with every rule's
meaning, thresholds, windows (and their kind), severity and source."""

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
    "intra_group_transfer",
    "disguised_financing",
    "holding_concentration",
    "ecological_loss",
    "issuance_not_backed",
    "index_divergence",
)
# Raised by the node itself, not by the rules engine over indexed events: a comparison with other nodes.
NODE_RULES = ("index_divergence",)
ENGINE_RULES = tuple(rule for rule in RULES if rule not in NODE_RULES)

# How a rule's window is measured: exact seconds ending at the judged event, Asia/Shanghai calendar days, or
# no window at all.
WINDOW_KINDS = ("rolling", "calendar_day", "none")


def load_rules(path: Path | None = None) -> dict[str, dict[str, Any]]:
    with (path or DEFAULT_RULES).open("rb") as handle:
        rules = tomllib.load(handle)
    missing = [name for name in RULES if name not in rules]
    if missing:
        raise ValueError(f"{path or DEFAULT_RULES}: rules missing: {', '.join(missing)}")
    for name in RULES:
        for key in ("meaning", "severity", "source", "window_kind"):
            if key not in rules[name]:
                raise ValueError(f"rule {name}: {key} is required")
        if rules[name]["window_kind"] not in WINDOW_KINDS:
            raise ValueError(f"rule {name}: window_kind is one of {', '.join(WINDOW_KINDS)}")
    return rules
