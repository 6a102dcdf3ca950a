"""Evidence: content-addressed files (encrypted at rest), Merkle bundles and signed attestations."""
