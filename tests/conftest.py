"""Shared fixtures: one anvil per test module (plain and Besu-style), a deployed registry with its
cast of participants, and a chain snapshot reverted after every test so each starts clean."""

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings as hypothesis_settings

from node import devnode
from node.chain.anvil import AnvilConfig, AnvilProcess, anvil_binary, free_port
from node.chain.build import BuildOutput, compile_contracts
from node.chain.devnet import DevNetwork, start_devnet
from node.chain.rpc import RpcClient
from node.chain.sender import NonceManager
from node.devpg import PostgresCluster, postgres_cluster
from node.settings import PROJECT_ROOT, Settings, load_settings

hypothesis_settings.register_profile("ci", max_examples=25, deadline=None)
hypothesis_settings.register_profile("dev", max_examples=50, deadline=None)
hypothesis_settings.load_profile("ci")

# "anvil": EIP-1559 transactions on a default anvil; "besu": an anvil run as a free-gas Besu network
# (zero base fee and gas price) receiving only locally signed legacy transactions from unfunded keys.
CHAIN_MODES = ["anvil", "besu"]


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """One PostgreSQL cluster for the session (a database per test or node), stopped at its end."""
    with postgres_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session", autouse=True)
def _store_engine(request: pytest.FixtureRequest) -> Iterator[None]:
    """SINKNODE_TEST_DATABASE=postgresql: every node the tests start keeps its store in PostgreSQL."""
    if os.environ.get("SINKNODE_TEST_DATABASE", "sqlite") == "postgresql":
        devnode.POSTGRES = request.getfixturevalue("postgres")
    yield
    devnode.POSTGRES = None


@pytest.fixture(scope="session")
def build() -> BuildOutput:
    # A fixed home under build/ caches the compiler output between runs; it holds no chain state.
    return compile_contracts(load_settings(home=PROJECT_ROOT / "build" / "test-home"))


@pytest.fixture
def home_settings(tmp_path: object) -> Settings:
    return load_settings(home=tmp_path, keystore_scrypt_n=2**10)


@pytest.fixture(scope="module", params=CHAIN_MODES)
def chain_mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def anvil(chain_mode: str) -> Iterator[AnvilProcess]:
    config = AnvilConfig(binary=anvil_binary(PROJECT_ROOT), port=free_port(), besu_style=chain_mode == "besu")
    with AnvilProcess(config) as process:
        yield process


@pytest.fixture(scope="module")
def net(anvil: AnvilProcess, build: BuildOutput, chain_mode: str) -> Iterator[DevNetwork]:
    rpc = RpcClient(anvil.url)
    if chain_mode == "besu":
        network = start_devnet(rpc, build, gas_mode="legacy", gas_price_wei=0, fund_accounts=False)
    else:
        network = start_devnet(rpc, build)
    yield network
    rpc.close()


@pytest.fixture(autouse=True)
def _clean_chain(request: pytest.FixtureRequest) -> Iterator[None]:
    """Reverts the module's chain to its state before the test (OpenZeppelin's loadFixture)."""
    if "net" not in request.fixturenames:
        yield
        return
    network: DevNetwork = request.getfixturevalue("net")
    snapshot = network.rpc.call("evm_snapshot")
    yield
    assert network.rpc.call("evm_revert", snapshot) is True
    NonceManager.forget(network.rpc.url)
