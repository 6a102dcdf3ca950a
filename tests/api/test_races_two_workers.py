"""The race suite (tests/api/test_races.py) against a node serving through two API worker processes: the
intent journal, nonces, reservations and idempotency keys are shared through the store, not process memory,
so every write still happens once."""

from collections.abc import Iterator

import pytest

from node.devnode import LocalNode, local_node_workers
from tests.api.test_races import (  # noqa: F401  (the suite's fixtures and tests, run here against two workers)
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
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNode]:
    with local_node_workers(tmp_path_factory.mktemp("node"), workers=2, evidence_key="33" * 32) as (handle, pool):
        assert len(pool.worker_pids()) == 2
        yield handle
