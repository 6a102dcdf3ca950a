"""Deploys the registry from a fresh build and records it in the manifest."""

from datetime import UTC, datetime

from eth_abi import encode

from node.chain.abi import ContractAbi
from node.chain.build import BuildOutput, mask_immutables
from node.chain.manifest import (
    CompilerInfo,
    ContractDeployment,
    DeploymentManifest,
    abi_hash,
    code_hash,
)
from node.chain.sender import TransactionSender
from node.errors import DeploymentError


def deploy_registry(
    build: BuildOutput,
    sender: TransactionSender,
    *,
    organisation: int,
    buffer_account: str,
    buffer_share_bps: int,
) -> DeploymentManifest:
    """Deploys SinkRegistry with the sender as admin; the buffer account is registered with it."""
    artifact = build.registry
    abi = ContractAbi(artifact.abi)
    args = encode(
        list(abi.constructor_types), [sender.address, organisation, buffer_account, buffer_share_bps]
    )
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
