"""`sinknode network init`: the QBFT genesis, keys, allowlists, configs and compose file it writes."""

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import rlp
import yaml
from eth_account import Account
from eth_keys import keys

from node.errors import NetworkConfigError
from node.network.besu import NetworkRequest, decrypt_node_key, init_network
from node.network.qbft import decode_extra_data, encode_genesis_extra_data

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "qbft"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("network")
    written = init_network(out, NetworkRequest(orgs=3, validators=4, chain_id=20261, block_period_s=3),
                           PASSWORD, scrypt_n=2**10)  # fmt: skip
    return out, written


def _node_key(out: Path, name: str) -> keys.PrivateKey:
    return keys.PrivateKey(Account.decrypt(json.loads((out / "nodes" / name / "key.json").read_text()), PASSWORD))


def test_besu_documentation_vector_decodes_to_its_four_validators_and_encodes_back():
    vector = json.loads((FIXTURES / "besu_docs_sample_genesis.json").read_text())
    decoded = decode_extra_data(vector["extraData"])
    assert list(decoded.validators) == vector["validators"]
    assert decoded.vanity == bytes(32)
    assert decoded.vote is None and decoded.round == 0 and decoded.seals == ()
    assert encode_genesis_extra_data(vector["validators"]) == vector["extraData"]


def test_genesis_names_the_validators_the_chain_id_and_free_gas(network):
    out, written = network
    genesis = json.loads((out / "genesis.json").read_text())
    config = genesis["config"]
    assert config["chainId"] == 20261
    assert config["zeroBaseFee"] is True and genesis["baseFeePerGas"] == "0x0"
    assert config["qbft"]["blockperiodseconds"] == 3
    assert genesis["difficulty"] == "0x1" and genesis["nonce"] == "0x0"

    extra = decode_extra_data(genesis["extraData"])
    validator_names = [f"validator-{n}" for n in range(1, 5)]
    from_keys = sorted(_node_key(out, name).public_key.to_checksum_address().lower() for name in validator_names)
    assert list(extra.validators) == from_keys == written["validators"]
    assert extra.vote is None and extra.round == 0 and extra.seals == ()
    # No organisation's RPC node is a validator.
    assert not {_node_key(out, f"org-{n}-rpc").public_key.to_checksum_address().lower() for n in (1, 2, 3)} & set(
        extra.validators
    )


def test_node_keys_are_encrypted_and_match_their_enodes(network):
    out, written = network
    for node in written["nodes"]:
        directory = out / "nodes" / node["name"]
        stored = json.loads((directory / "key.json").read_text())
        assert "crypto" in stored and "privateKey" not in json.dumps(stored)
        assert (directory / "key.json").stat().st_mode & 0o077 == 0
        public = _node_key(out, node["name"]).public_key.to_hex()[2:]
        assert node["enode"] == f"enode://{public}@{node['ip']}:30303"
        assert (directory / "key.pub").read_text().strip() == public
    with pytest.raises(Exception, match="wrong password"):
        decrypt_node_key(out, "validator-1", "not the password")


def test_node_key_decrypts_for_besu_into_a_private_file(network):
    out, _ = network
    path = decrypt_node_key(out, "validator-2", PASSWORD)
    assert path.stat().st_mode & 0o077 == 0
    key = keys.PrivateKey(bytes.fromhex(path.read_text()))
    assert key == _node_key(out, "validator-2")
    with pytest.raises(NetworkConfigError, match="no node named"):
        decrypt_node_key(out, "validator-9", PASSWORD)


def test_allowlists_and_static_nodes_hold_every_node_and_each_organisations_operator(network):
    out, written = network
    permissions = tomllib.loads((out / "permissions_config.toml").read_text())
    enodes = [n["enode"] for n in written["nodes"]]
    assert len(enodes) == 7 and len({n["ip"] for n in written["nodes"]}) == 7
    assert permissions["nodes-allowlist"] == enodes
    assert json.loads((out / "static-nodes.json").read_text()) == enodes
    operators = []
    for org in (1, 2, 3):
        stored = json.loads((out / "orgs" / f"org-{org}" / "keys" / "operator.json").read_text())
        operators.append(Account.from_key(Account.decrypt(stored, PASSWORD)).address.lower())
    assert permissions["accounts-allowlist"] == operators == written["base_accounts"]


def test_each_node_has_a_config_and_a_service_at_its_address(network):
    out, written = network
    compose = yaml.safe_load((out / "docker-compose.yml").read_text())
    for node in written["nodes"]:
        config = tomllib.loads((out / "nodes" / node["name"] / "config.toml").read_text())
        assert config["p2p-host"] == node["ip"] and config["min-gas-price"] == 0
        assert config["permissions-accounts-config-file-enabled"] is True
        assert config["permissions-nodes-config-file-enabled"] is True
        assert "QBFT" in config["rpc-http-api"] and "PERM" in config["rpc-http-api"]
        service = compose["services"][node["name"]]
        assert service["networks"]["consortium"]["ipv4_address"] == node["ip"]
        published = service.get("ports", [])
        assert published == ([f"127.0.0.1:{node['host_rpc_port']}:8545"] if node["role"] == "rpc" else [])
    # Validators are spread over the organisations: no one of three holds more than two of four.
    operators = [n["organisation"] for n in written["nodes"] if n["role"] == "validator"]
    assert max(operators.count(org) for org in (1, 2, 3)) == 2
    for org in written["orgs"]:
        env = (out / "orgs" / org["name"] / "sinknode.env").read_text()
        assert f"SINKNODE_RPC_URL={org['rpc_url']}" in env and "SINKNODE_CHAIN_ID=20261" in env


def test_a_second_init_in_the_same_directory_is_refused(network):
    out, _ = network
    before = (out / "genesis.json").read_text()
    with pytest.raises(NetworkConfigError, match="already holds a network"):
        init_network(out, NetworkRequest(orgs=1, validators=1, chain_id=20262), PASSWORD, scrypt_n=2**10)
    assert (out / "genesis.json").read_text() == before


@pytest.mark.parametrize(
    ("orgs", "validators", "chain_id", "message"),
    [(0, 1, 20261, "--orgs"), (1, 0, 20261, "--validators"), (2, 4, 31337, "--chain-id"), (2, 4, 1, "--chain-id")],
)
def test_impossible_networks_are_refused_before_anything_is_written(tmp_path, orgs, validators, chain_id, message):
    with pytest.raises(NetworkConfigError, match=message):
        init_network(tmp_path / "n", NetworkRequest(orgs=orgs, validators=validators, chain_id=chain_id), PASSWORD)
    assert not (tmp_path / "n").exists()


@pytest.mark.parametrize(
    "extra_data",
    [
        "0x1234",  # not a list
        "0x" + rlp.encode([bytes(31), [], [], 0, []]).hex(),  # short vanity
        "0x" + rlp.encode([bytes(32), [bytes(19)], [], 0, []]).hex(),  # short address
        "0x" + rlp.encode([bytes(32), [], [], 0]).hex(),  # four items
        "0x" + rlp.encode([bytes(32), [], [bytes(20), b"\x07"], 0, []]).hex(),  # a vote of an unknown kind
        "not hex",
    ],
)
def test_malformed_extra_data_is_refused(extra_data):
    with pytest.raises(ValueError):
        decode_extra_data(extra_data)


def test_a_vote_in_extra_data_is_read():
    recipient = bytes(range(20))
    decoded = decode_extra_data("0x" + rlp.encode([bytes(32), [recipient], [recipient, b"\xff"], 2, []]).hex())
    assert decoded.vote is not None and decoded.vote.add and decoded.vote.recipient == "0x" + recipient.hex()
    assert decoded.round == 2


def test_the_command_writes_a_network_and_refuses_bad_input_in_one_line(tmp_path):
    env = {**os.environ, "SINKNODE_HOME": str(tmp_path / "home"), "SINKNODE_KEYSTORE_SCRYPT_N": "1024"}
    done = subprocess.run(
        [sys.executable, "-m", "node.cli", "network", "init", "--orgs", "2", "--validators", "1", "--chain-id", "777"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "fewer than 4 validators" in done.stdout
    network = tmp_path / "home" / "network"
    assert json.loads((network / "network.json").read_text())["chain_id"] == 777
    assert (network / ".password").stat().st_mode & 0o077 == 0
    refused = subprocess.run(
        [sys.executable, "-m", "node.cli", "network", "init", "--orgs", "2", "--validators", "4", "--chain-id", "31337",
         "--out", str(tmp_path / "other")],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "Traceback" not in refused.stderr and "--chain-id" in refused.stderr
    assert not (tmp_path / "other").exists()
