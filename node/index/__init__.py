"""The index: the chain's registry events mirrored into SQLite, with derived state, never lost or doubled."""
