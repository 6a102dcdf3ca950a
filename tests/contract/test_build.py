"""Two independent builds agree, and the chain runs exactly the built code."""

import json
import subprocess

import pytest

from node.chain.build import MAIN_CONTRACT, mask_immutables
from node.chain.manifest import check_against_chain, code_hash, load_manifest
from node.errors import DeploymentError
from node.settings import PROJECT_ROOT


@pytest.fixture(scope="module")
def hardhat_artifact() -> dict:
    subprocess.run(
        ["npx", "--no-install", "hardhat", "compile", "--force", "--quiet"],
        cwd=PROJECT_ROOT,
        check=True,
        timeout=300,
        capture_output=True,
    )
    path = PROJECT_ROOT / "build/hardhat/artifacts/contracts/SinkRegistry.sol/SinkRegistry.json"
    return json.loads(path.read_text())


def test_hardhat_and_the_python_build_give_the_same_bytecode(build, hardhat_artifact):
    artifact = build.registry
    assert bytes.fromhex(hardhat_artifact["deployedBytecode"][2:]) == artifact.deployed_bytecode
    assert bytes.fromhex(hardhat_artifact["bytecode"][2:]) == artifact.bytecode
    assert hardhat_artifact["abi"] == artifact.abi


def test_both_builds_embed_the_same_source_metadata(build, hardhat_artifact):
    # The CBOR tail of the runtime code carries the IPFS hash of the metadata (sources + settings).
    tail = int.from_bytes(build.registry.deployed_bytecode[-2:], "big") + 2
    assert build.registry.deployed_bytecode[-tail:] == bytes.fromhex(hardhat_artifact["deployedBytecode"][2:])[-tail:]
    assert json.loads(build.registry.metadata)["compiler"]["version"] == build.compiler_version


def test_the_deployed_code_is_the_built_code(net, build):
    on_chain = net.rpc.get_code(net.registry.address)
    artifact = build.registry
    assert artifact.immutable_references, "the EIP-712 domain lives in immutables"
    assert mask_immutables(on_chain, artifact.immutable_references) == artifact.deployed_bytecode
    assert net.manifest.registry.runtime_sha256 == code_hash(artifact.deployed_bytecode)


def test_the_manifest_matches_the_chain_and_notices_foreign_code(net, tmp_path, build):
    path = tmp_path / "deployment.json"
    net.manifest.save(path)
    manifest = load_manifest(path)
    assert manifest == net.manifest
    assert manifest.compiler.version == build.compiler_version
    assert manifest.registry.deploy_block <= net.rpc.block_number()
    check_against_chain(manifest, net.rpc)

    code = bytearray(net.rpc.get_code(net.registry.address))
    code[10] ^= 0xFF
    net.rpc.call("anvil_setCode", net.registry.address, "0x" + code.hex())
    with pytest.raises(DeploymentError, match="not the code"):
        check_against_chain(manifest, net.rpc)


def test_the_build_names_its_main_contract(build):
    assert MAIN_CONTRACT in build.contracts
    assert build.compiler_version.startswith(
        json.loads((PROJECT_ROOT / "contracts/compiler.json").read_text())["version"]
    )
