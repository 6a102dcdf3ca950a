"""Deploys the registry from a fresh build and records it in the manifest."""

from datetime import UTC, datetime

from eth_abi import encode

from node.chain.abi import ContractAbi
from node.chain.build import MAIN_CONTRACT, BuildOutput, compile_contracts, mask_immutables
from node.chain.keystore import Keystore
from node.chain.manifest import (
    CompilerInfo,
    ContractDeployment,
    DeploymentManifest,
    abi_hash,
    check_against_chain,
    code_hash,
    load_manifest,
)
from node.chain.rpc import RpcClient
from node.chain.sender import TransactionSender
from node.errors import ConfigError, DeploymentError
from node.settings import Settings


def deploy_registry(
    build: BuildOutput,
    sender: TransactionSender,
    *,
    organisation: int,
    buffer_account: str,
    buffer_share_bps: int,
    contract: str = MAIN_CONTRACT,
) -> DeploymentManifest:
    """Deploys SinkRegistry (or a test harness of it) with the sender as admin and the buffer account."""
    artifact = build.contracts[contract]
    abi = ContractAbi(artifact.abi)
    args = encode(list(abi.constructor_types), [sender.address, organisation, buffer_account, buffer_share_bps])
    sender.abi = abi
    receipt = sender.send(None, artifact.bytecode + args)
    address = receipt.raw.get("contractAddress")
    if not address:
        raise DeploymentError(f"deployment {receipt.tx_hash} created no contract")
    deployed = sender.rpc.get_code(address)
    runtime = code_hash(mask_immutables(deployed, artifact.immutable_references))
    if runtime != code_hash(artifact.deployed_bytecode):
        raise DeploymentError("the deployed runtime code differs from the build")
    return DeploymentManifest(
        chain_id=sender.chain_id,
        deployed_at=datetime.now(UTC).isoformat(timespec="seconds"),
        admin=sender.address,
        buffer_account=buffer_account.lower(),
        compiler=CompilerInfo(
            version=build.compiler_version, settings=build.compiler_settings, input_sha256=build.input_hash
        ),
        contracts={
            "SinkRegistry": ContractDeployment(
                name=contract,
                address=address.lower(),
                deploy_tx=receipt.tx_hash,
                deploy_block=receipt.block_number,
                deploy_block_hash=receipt.block_hash,
                abi_sha256=abi_hash(artifact.abi),
                runtime_sha256=runtime,
                immutable_references=artifact.immutable_references,
                abi=artifact.abi,
            )
        },
    )


def ensure_deployed(settings: Settings, *, force: bool = False) -> tuple[DeploymentManifest, bool]:
    """Deploys unless the manifest already matches the chain; returns (manifest, newly deployed)."""
    with RpcClient(settings.effective_rpc_url) as rpc:
        chain_id = rpc.chain_id()
        if chain_id != settings.chain_id:
            raise ConfigError(f"the chain at {rpc.url} has id {chain_id}; settings say {settings.chain_id}")
        if settings.manifest_path.is_file() and not force:
            manifest = load_manifest(settings.manifest_path)
            check_against_chain(manifest, rpc)
            return manifest, False
        build = compile_contracts(settings)
        keystore = Keystore.from_settings(settings)
        admin = keystore.load_or_create("admin")
        buffer_address = keystore.ensure("buffer")
        if settings.gas_mode == "eip1559":
            fund_if_dev_chain(rpc, admin.address)
        sender = TransactionSender(
            rpc,
            admin,
            chain_id=chain_id,
            gas_mode=settings.gas_mode,
            gas_price_wei=settings.gas_price_wei,
            timeout_s=settings.tx_timeout_s,
        )
        manifest = deploy_registry(
            build,
            sender,
            organisation=settings.organisation,
            buffer_account=buffer_address,
            buffer_share_bps=settings.buffer_share_bps,
        )
        manifest.save(settings.manifest_path)
        return manifest, True


def fund_if_dev_chain(rpc: RpcClient, address: str) -> None:
    """On anvil, keystore accounts get development ether; elsewhere they must be funded by the operator."""
    if int(rpc.call("eth_getBalance", address, "latest"), 16) > 0:
        return
    if "anvil" not in rpc.client_version().lower():
        raise ConfigError(f"{address} has no ether to pay gas: fund it, or use gas_mode=legacy on a free-gas chain")
    rpc.call("anvil_setBalance", address, hex(10**21))


def source_matches_chain(settings: Settings) -> tuple[bool, str]:
    """Rebuilds contracts/ and compares with the code the manifest's address runs (immutables aside)."""
    manifest = load_manifest(settings.manifest_path)
    build = compile_contracts(settings)
    with RpcClient(settings.effective_rpc_url) as rpc:
        on_chain = rpc.get_code(manifest.registry.address)
    artifact = build.registry
    same = mask_immutables(on_chain, artifact.immutable_references) == artifact.deployed_bytecode
    return same, manifest.registry.address
