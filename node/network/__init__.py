"""A permissioned network for several organisations: Besu QBFT genesis, node keys and allowlists."""
