"""Checkout offsets (many orders' footprints retired under one Merkle root) and carbon points."""
