"""Which database the tests' nodes use (SINKNODE_TEST_DATABASE, set by scripts/test for its second pass)."""

import os

import pytest

# The nodes' store and index are in PostgreSQL (the suite's second pass), not in SQLite files.
IN_POSTGRES = os.environ.get("SINKNODE_TEST_DATABASE", "sqlite") == "postgresql"
# The SQL console reads a SQLite index only: with the index in PostgreSQL it answers 503 sql_console_unavailable.
needs_sqlite_console = pytest.mark.skipif(IN_POSTGRES, reason="the SQL console reads a SQLite index only")
