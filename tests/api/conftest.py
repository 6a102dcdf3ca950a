"""One real node per test module (node.devnode): anvil, deployment, the API with its indexer, tokens."""

from collections.abc import Iterator

import pytest

from node.devnode import LocalNode, local_node


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNode]:
    with local_node(tmp_path_factory.mktemp("node"), evidence_key="33" * 32) as handle:
        yield handle
