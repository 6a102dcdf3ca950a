"""Supervision: alert handling, the regulator's measures, pre-listing review, reports, the facts the risk
rules read off chain, re-runs of the rules, reconciliation of the index with the chain and the read-only
SQL console."""
