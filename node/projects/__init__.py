"""Projects off chain: their profiles, monitoring data and its accounting, and batch provenance."""
