"""Fixtures for the indexer: a plain anvil per module running the registry's test harness."""

from collections.abc import Iterator

import pytest

from node.chain.anvil import AnvilConfig, AnvilProcess, anvil_binary, free_port
from node.chain.build import BuildOutput
from node.chain.devnet import DevNetwork, start_devnet
from node.chain.rpc import RpcClient
from node.chain.sender import NonceManager
from node.settings import PROJECT_ROOT


@pytest.fixture(scope="module")
def index_anvil() -> Iterator[AnvilProcess]:
    with AnvilProcess(AnvilConfig(binary=anvil_binary(PROJECT_ROOT), port=free_port())) as process:
        yield process


@pytest.fixture(scope="module")
def _harness_net(index_anvil: AnvilProcess, build: BuildOutput) -> Iterator[DevNetwork]:
    rpc = RpcClient(index_anvil.url)
    yield start_devnet(rpc, build, contract="SinkRegistryHarness")
    rpc.close()


@pytest.fixture
def hnet(_harness_net: DevNetwork) -> Iterator[DevNetwork]:
    """The harness network, reverted to its deployed state after each test."""
    snapshot = _harness_net.rpc.call("evm_snapshot")
    yield _harness_net
    assert _harness_net.rpc.call("evm_revert", snapshot) is True
    NonceManager.forget(_harness_net.rpc.url)
