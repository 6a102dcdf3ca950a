"""The race suite (tests/api/test_races.py) against one node served from two hosts: two processes with their
own data directories and indexes, one PostgreSQL store. Every race spreads its requests over both; the send
gate is the database's advisory lock, nonces come from the shared journal, and intents and idempotency claims
name the worker carrying them, so every write still happens once."""

import contextlib
from collections.abc import Iterator

import pytest

from node.devnode import LocalNode, local_node, second_host

# Every test and fixture of the suite, run here against two hosts (a test added to the suite runs here too).
from tests.api.test_races import *  # noqa: F403
from tests.api.test_races import _park_has_a_deposit  # noqa: F401  (autouse, private: not in the star)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, postgres) -> Iterator[LocalNode]:
    stack = contextlib.ExitStack()
    with stack:
        home = tmp_path_factory.mktemp("host1")
        handle = stack.enter_context(local_node(home, evidence_key="33" * 32,
                                                database_url=postgres.create_database("hosts")))  # fmt: skip
        handle.race_urls = [handle.url, stack.enter_context(second_host(handle, tmp_path_factory.mktemp("host2")))]
        yield handle
