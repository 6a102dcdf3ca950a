"""The race suite (tests/api/test_races.py) against one node served from two hosts: two processes with their
own data directories and indexes, one PostgreSQL store. Every race spreads its requests over both; the send
gate is the database's advisory lock, nonces come from the shared journal, and intents and idempotency claims
name the worker carrying them, so every write still happens once."""

import contextlib
from collections.abc import Iterator

import pytest

from node.devnode import LocalNode, local_node, second_host
from tests.api.test_races import (  # noqa: F401  (the suite's fixtures and tests, run here across two hosts)
    _park_has_a_deposit,
    second_stock,
    stock,
    test_a_receipt_pays_once_and_bad_receipts_change_nothing,
    test_a_retry_right_after_the_answer_is_the_answer_again,
    test_concurrent_accepts_never_reserve_beyond_the_listing,
    test_concurrent_closes_retire_a_campaign_once,
    test_concurrent_deliveries_transfer_once,
    test_identical_offsets_retire_once,
    test_offsets_beyond_the_balance_never_overdraw,
    test_one_idempotency_key_writes_once,
)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, postgres) -> Iterator[LocalNode]:
    stack = contextlib.ExitStack()
    with stack:
        home = tmp_path_factory.mktemp("host1")
        handle = stack.enter_context(local_node(home, evidence_key="33" * 32,
                                                database_url=postgres.create_database("hosts")))  # fmt: skip
        handle.race_urls = [handle.url, stack.enter_context(second_host(handle, tmp_path_factory.mktemp("host2")))]
        yield handle
