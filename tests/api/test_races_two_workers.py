"""The race suite (tests/api/test_races.py) against a node serving through two API worker processes: the
intent journal, nonces, reservations and idempotency keys are shared through the store, not process memory,
so every write still happens once."""

from collections.abc import Iterator

import pytest

from node.devnode import LocalNode, local_node_workers

# Every test and fixture of the suite, run here against two workers (a test added to the suite runs here too).
from tests.api.test_races import *  # noqa: F403
from tests.api.test_races import _park_has_a_deposit  # noqa: F401  (autouse, private: not in the star)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNode]:
    with local_node_workers(tmp_path_factory.mktemp("node"), workers=2, evidence_key="33" * 32) as (handle, pool):
        assert len(pool.worker_pids()) == 2
        yield handle
