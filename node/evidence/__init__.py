"""Evidence: content-addressed files (optionally encrypted at rest), Merkle bundles and signed attestations."""
