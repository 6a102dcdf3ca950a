"""The account allowlist follows the registry: registering adds an account, freezing removes it."""

import json
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account

from node.devnode import LocalNode, local_node
from node.network.besu import NetworkRequest, init_network


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("network")
    init_network(out, NetworkRequest(orgs=2, validators=1, chain_id=20261), "pw", scrypt_n=2**10)
    return out


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, network: Path) -> Iterator[LocalNode]:
    with local_node(tmp_path_factory.mktemp("node"), permissions_file=network / "permissions_config.toml") as handle:
        yield handle


def _allowlist(network: Path) -> dict[str, list[str]]:
    return tomllib.loads((network / "permissions_config.toml").read_text())


def test_the_cast_registered_at_start_is_allowed_beside_the_operators(node, network):
    operators = json.loads((network / "network.json").read_text())["base_accounts"]
    allowed = _allowlist(network)["accounts-allowlist"]
    assert set(operators) <= set(allowed)
    registered = {a.lower() for a in node.addresses.values()}
    reader = node.services.reader()
    try:
        indexed = {row[0] for row in reader.execute("SELECT address FROM participant WHERE frozen = 0")}
    finally:
        reader.close()
    assert registered & indexed
    assert indexed <= set(allowed)
    assert allowed == sorted(allowed)


def test_registering_freezing_and_unfreezing_move_an_account_in_and_out(node, network):
    nodes_before = _allowlist(network)["nodes-allowlist"]
    stranger = Account.create().address
    node.ok("POST", "/v1/admin/participants", "admin", json={"account": stranger, "organisation": 77, "roles": 0})
    assert stranger.lower() in _allowlist(network)["accounts-allowlist"]

    reason = {"frozen": True, "reason": "suspected circular trades"}
    node.ok("POST", f"/v1/regulator/accounts/{stranger}/freeze", "regulator", json=reason)
    assert stranger.lower() not in _allowlist(network)["accounts-allowlist"]

    node.ok("POST", f"/v1/regulator/accounts/{stranger}/freeze", "regulator", json={**reason, "frozen": False})
    assert stranger.lower() in _allowlist(network)["accounts-allowlist"]
    # The nodes allowlist is the network's, never touched by the node.
    assert _allowlist(network)["nodes-allowlist"] == nodes_before


def test_a_chain_without_the_permissioning_api_leaves_the_file_right(node):
    # anvil has no perm_reloadPermissionsFromFile: the node notes it and goes on (Besu would reload).
    keeper = node.services.indexer.after_commit[0].__self__
    assert keeper.reloads == 0
