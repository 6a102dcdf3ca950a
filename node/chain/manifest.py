"""The deployment manifest: what was deployed where, written by `sinknode deploy`, read by the node."""

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from node.chain.abi import ContractAbi
from node.chain.build import mask_immutables
from node.chain.rpc import RpcClient
from node.errors import DeploymentError

MANIFEST_VERSION = 1


def abi_hash(abi: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(abi, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def code_hash(code: bytes) -> str:
    return hashlib.sha256(code).hexdigest()


class ContractDeployment(BaseModel):
    name: str = "SinkRegistry"  # the deployed contract (a test harness in tests and benchmarks)
    address: str
    deploy_tx: str
    deploy_block: int
    deploy_block_hash: str
    abi_sha256: str
    runtime_sha256: str  # of the runtime code with immutables zeroed, as built
    immutable_references: dict[str, list[dict[str, int]]]
    abi: list[dict[str, Any]]


class CompilerInfo(BaseModel):
    version: str
    settings: dict[str, Any]
    input_sha256: str


class DeploymentManifest(BaseModel):
    manifest_version: int = MANIFEST_VERSION
    chain_id: int
    deployed_at: str
    admin: str
    buffer_account: str
    compiler: CompilerInfo
    contracts: dict[str, ContractDeployment]

    @property
    def registry(self) -> ContractDeployment:
        return self.contracts["SinkRegistry"]

    def registry_abi(self) -> ContractAbi:
        return ContractAbi(self.registry.abi)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json(indent=2))
        tmp.replace(path)


def load_manifest(path: Path) -> DeploymentManifest:
    try:
        return DeploymentManifest.model_validate_json(path.read_text())
    except FileNotFoundError:
        raise DeploymentError(f"no deployment manifest at {path}: run `sinknode deploy`") from None
    except ValidationError as exc:
        raise DeploymentError(f"the manifest at {path} is not valid: {exc}") from exc


def check_against_chain(manifest: DeploymentManifest, rpc: RpcClient) -> None:
    """Refuses a manifest whose chain id or deployed code does not match what the chain holds."""
    chain_id = rpc.chain_id()
    if chain_id != manifest.chain_id:
        raise DeploymentError(f"the manifest is for chain {manifest.chain_id}, the node serves {chain_id}")
    registry = manifest.registry
    code = rpc.get_code(registry.address)
    if not code:
        raise DeploymentError(f"no contract at {registry.address}: the chain was reset; run `sinknode deploy`")
    if code_hash(mask_immutables(code, registry.immutable_references)) != registry.runtime_sha256:
        raise DeploymentError(f"the code at {registry.address} is not the code the manifest records")
