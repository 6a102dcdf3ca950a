"""`sinknode network init`: the files a Besu QBFT network of several organisations starts from.

What is written (under one directory, refused if it already holds a network):
- genesis.json: the chain id, QBFT with its block period, a zero base fee (gas is free on a permissioned
  network: the allowlists, not fees, keep spam out) and extraData naming the first validators;
- nodes/<name>/: per Besu node its config.toml and its node key, encrypted (key.json, a v3 keystore);
  `sinknode network node-key` decrypts one into the plain file Besu reads, on the host that runs it;
- static-nodes.json and permissions_config.toml: every node's enode (nodes allowlist) and each
  organisation's operator account (accounts allowlist; the node adds participants as they register);
- orgs/<org>/: the organisation's operator account (encrypted) and a sinknode.env for its node;
- docker-compose.yml: the Besu nodes on one bridge network with fixed addresses;
- network.json: what was asked and made, read back by the allowlist keeper and the tests.
"""

import ipaddress
import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from eth_account import Account
from eth_keys import keys

from node.errors import NetworkConfigError
from node.network.qbft import encode_genesis_extra_data

BESU_IMAGE = "hyperledger/besu:24.12.2"
SUBNET = ipaddress.ip_network("172.16.240.0/24")
P2P_PORT = 30303
RPC_PORT = 8545
HOST_RPC_BASE = 22000  # org n's RPC node answers on the host at HOST_RPC_BASE + n
GAS_LIMIT = 0x1FFFFFFFFFFFFF
# QBFT's mixHash, fixed by the protocol ("Istanbul" block identification).
QBFT_MIX_HASH = "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"
RPC_APIS = ["ETH", "NET", "WEB3", "QBFT", "PERM", "TXPOOL"]


@dataclass(frozen=True)
class NetworkRequest:
    orgs: int
    validators: int
    chain_id: int
    block_period_s: int = 2
    request_timeout_s: int = 10
    epoch_length: int = 30_000
    besu_image: str = BESU_IMAGE


@dataclass(frozen=True)
class NodeEntry:
    name: str
    organisation: int
    role: str  # "validator" or "rpc" (the node an organisation's sinknode talks to)
    address: str  # the node key's account: a validator's identity in extraData
    enode: str
    ip: str
    host_rpc_port: int | None


@dataclass(frozen=True)
class OrgEntry:
    id: int
    name: str
    operator: str  # the organisation's first transacting account
    rpc_node: str
    rpc_url: str  # as its sinknode reaches it from the host


def check_request(request: NetworkRequest) -> None:
    if not 1 <= request.orgs <= 50:
        raise NetworkConfigError("--orgs must be between 1 and 50")
    if not 1 <= request.validators <= 50:
        raise NetworkConfigError("--validators must be between 1 and 50")
    if not 1 <= request.chain_id < 2**63 or request.chain_id in (1, 31337):
        # 1 is Ethereum's main network and 31337 the local development chain: a consortium needs its own id,
        # or a signed transaction could be replayed where it was never meant to go.
        raise NetworkConfigError("--chain-id must be the consortium's own (not 1, not 31337)")
    if not 1 <= request.block_period_s <= 60:
        raise NetworkConfigError("--block-period must be 1 to 60 seconds")


def init_network(out: Path, request: NetworkRequest, password: str, *, scrypt_n: int = 2**18) -> dict[str, object]:
    """Writes the network's files under `out`; returns what network.json holds."""
    check_request(request)
    if (out / "network.json").exists():
        raise NetworkConfigError(f"{out} already holds a network (network.json): choose another directory")
    out.mkdir(parents=True, exist_ok=True)
    hosts = iter(SUBNET.hosts())
    next(hosts)  # .1 is the bridge's gateway

    nodes: list[NodeEntry] = []
    node_keys: dict[str, keys.PrivateKey] = {}

    def add_node(name: str, organisation: int, role: str, host_rpc_port: int | None) -> NodeEntry:
        key = keys.PrivateKey(secrets.token_bytes(32))
        ip = str(next(hosts))
        entry = NodeEntry(
            name=name,
            organisation=organisation,
            role=role,
            address=key.public_key.to_checksum_address().lower(),
            enode=f"enode://{key.public_key.to_hex()[2:]}@{ip}:{P2P_PORT}",
            ip=ip,
            host_rpc_port=host_rpc_port,
        )
        nodes.append(entry)
        node_keys[name] = key
        return entry

    # Validators are spread over the organisations in turn, so no one organisation holds a quorum when
    # there are enough of them.
    for number in range(1, request.validators + 1):
        add_node(f"validator-{number}", (number - 1) % request.orgs + 1, "validator", None)
    orgs: list[OrgEntry] = []
    operators: dict[int, bytes] = {}
    for org in range(1, request.orgs + 1):
        rpc = add_node(f"org-{org}-rpc", org, "rpc", HOST_RPC_BASE + org)
        operator = secrets.token_bytes(32)
        operators[org] = operator
        orgs.append(
            OrgEntry(
                id=org,
                name=f"org-{org}",
                operator=Account.from_key(operator).address.lower(),
                rpc_node=rpc.name,
                rpc_url=f"http://127.0.0.1:{rpc.host_rpc_port}",
            )
        )

    # Besu takes the first validator set in extraData's order; ascending order makes the file the same for
    # the same keys whoever writes it.
    validators = sorted(n.address for n in nodes if n.role == "validator")
    genesis = _genesis(request, validators)
    enodes = [n.enode for n in nodes]
    base_accounts = [o.operator for o in orgs]

    _write_json(out / "genesis.json", genesis)
    _write_json(out / "static-nodes.json", enodes)
    (out / "permissions_config.toml").write_text(permissions_toml(base_accounts, enodes))
    for node in nodes:
        directory = out / "nodes" / node.name
        directory.mkdir(parents=True, exist_ok=True)
        _write_secret_json(
            directory / "key.json",
            Account.encrypt(node_keys[node.name].to_bytes(), password, kdf="scrypt", iterations=scrypt_n),
        )
        (directory / "key.pub").write_text(node_keys[node.name].public_key.to_hex()[2:] + "\n")
        (directory / "config.toml").write_text(_node_config(node))
    for org in orgs:
        directory = out / "orgs" / org.name
        (directory / "keys").mkdir(parents=True, exist_ok=True)
        _write_secret_json(
            directory / "keys" / "operator.json",
            Account.encrypt(operators[org.id], password, kdf="scrypt", iterations=scrypt_n),
        )
        (directory / "sinknode.env").write_text(_org_env(request, org))
    (out / "docker-compose.yml").write_text(_compose(request, nodes))
    manifest: dict[str, object] = {
        "format": "sinkledger-network/1",
        "chain_id": request.chain_id,
        "block_period_s": request.block_period_s,
        "besu_image": request.besu_image,
        "validators": validators,
        "base_accounts": base_accounts,
        "orgs": [asdict(o) for o in orgs],
        "nodes": [asdict(n) for n in nodes],
    }
    _write_json(out / "network.json", manifest)
    return manifest


def _genesis(request: NetworkRequest, validators: list[str]) -> dict[str, object]:
    return {
        "config": {
            "chainId": request.chain_id,
            "homesteadBlock": 0,
            "eip150Block": 0,
            "eip155Block": 0,
            "eip158Block": 0,
            "byzantiumBlock": 0,
            "constantinopleBlock": 0,
            "petersburgBlock": 0,
            "istanbulBlock": 0,
            "berlinBlock": 0,
            "londonBlock": 0,
            "shanghaiTime": 0,
            "cancunTime": 0,  # the contracts are compiled for Cancun (contracts/compiler.json)
            "zeroBaseFee": True,
            "qbft": {
                "blockperiodseconds": request.block_period_s,
                "epochlength": request.epoch_length,
                "requesttimeoutseconds": request.request_timeout_s,
            },
        },
        "nonce": "0x0",
        "timestamp": "0x0",
        "gasLimit": hex(GAS_LIMIT),
        "baseFeePerGas": "0x0",
        "difficulty": "0x1",
        "mixHash": QBFT_MIX_HASH,
        "coinbase": "0x0000000000000000000000000000000000000000",
        "extraData": encode_genesis_extra_data(validators),
        "alloc": {},
    }


def permissions_toml(accounts: list[str], enodes: list[str]) -> str:
    """Besu's local permissioning file: who may send transactions, which nodes may connect."""

    def array(values: list[str]) -> str:
        return "[" + ",".join(f'\n  "{v}"' for v in values) + ("\n]" if values else "]")

    return f"accounts-allowlist={array(accounts)}\nnodes-allowlist={array(enodes)}\n"


def _node_config(node: NodeEntry) -> str:
    apis = ",".join(f'"{a}"' for a in RPC_APIS)
    return f"""# Besu node {node.name} (organisation {node.organisation}, {node.role})
data-path="/data"
genesis-file="/config/genesis.json"
node-private-key-file="/keys/key"
static-nodes-file="/config/static-nodes.json"
discovery-enabled=false
p2p-host="{node.ip}"
p2p-port={P2P_PORT}
sync-mode="FULL"
min-gas-price=0
rpc-http-enabled=true
rpc-http-host="0.0.0.0"
rpc-http-port={RPC_PORT}
rpc-http-api=[{apis}]
host-allowlist=["*"]
permissions-nodes-config-file-enabled=true
permissions-nodes-config-file="/config/permissions_config.toml"
permissions-accounts-config-file-enabled=true
permissions-accounts-config-file="/config/permissions_config.toml"
"""


def _org_env(request: NetworkRequest, org: OrgEntry) -> str:
    return f"""# Settings of {org.name}'s sinknode (see docs/deployment.md). Put the operator keystore from keys/
# into the node's <home>/keys and give its password in SINKNODE_KEYSTORE_PASSWORD.
SINKNODE_HOME=./{org.name}-home
SINKNODE_RPC_URL={org.rpc_url}
SINKNODE_CHAIN_ID={request.chain_id}
SINKNODE_GAS_MODE=legacy
SINKNODE_GAS_PRICE_WEI=0
SINKNODE_ORGANISATION={org.id}
SINKNODE_PERMISSIONS_FILE=../../permissions_config.toml
"""


def _compose(request: NetworkRequest, nodes: list[NodeEntry]) -> str:
    lines = ["# Besu QBFT network written by `sinknode network init`; see docs/deployment.md.", "services:"]
    for node in nodes:
        lines += [
            f"  {node.name}:",
            f"    image: {request.besu_image}",
            '    command: ["--config-file=/node/config.toml"]',
            "    volumes:",
            f"      - ./nodes/{node.name}:/node:ro",
            f"      - ./nodes/{node.name}/secret:/keys:ro",
            "      - ./genesis.json:/config/genesis.json:ro",
            "      - ./static-nodes.json:/config/static-nodes.json:ro",
            "      - ./permissions_config.toml:/config/permissions_config.toml",
            f"      - {node.name}-data:/data",
            "    networks:",
            "      consortium:",
            f"        ipv4_address: {node.ip}",
        ]
        if node.host_rpc_port is not None:
            lines += ["    ports:", f'      - "127.0.0.1:{node.host_rpc_port}:{RPC_PORT}"']
    lines += ["networks:", "  consortium:", "    ipam:", "      config:", f"        - subnet: {SUBNET}", "volumes:"]
    lines += [f"  {node.name}-data: {{}}" for node in nodes]
    return "\n".join(lines) + "\n"


def _write_json(path: Path, value: object) -> None:
    path.write_text(json.dumps(value, indent=2) + "\n")


def _write_secret_json(path: Path, value: object) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(value, handle)


def decrypt_node_key(out: Path, name: str, password: str) -> Path:
    """Writes nodes/<name>/secret/key (0600), the plain node key Besu reads; returns its path."""
    encrypted_path = out / "nodes" / name / "key.json"
    if not encrypted_path.is_file():
        raise NetworkConfigError(f"no node named {name!r} in {out}")
    try:
        key = Account.decrypt(json.loads(encrypted_path.read_text()), password)
    except ValueError:
        raise NetworkConfigError(f"wrong password for node {name!r}") from None
    secret_dir = encrypted_path.parent / "secret"
    secret_dir.mkdir(mode=0o700, exist_ok=True)
    target = secret_dir / "key"
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex().removeprefix("0x"))
    return target
