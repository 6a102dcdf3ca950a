"""Compiles contracts/ with the pinned solc (contracts/compiler.json), the same way Hardhat does.

Source unit names are the ones Hardhat uses ("contracts/...", "@openzeppelin/contracts/..."),
so both builds embed the same metadata hash and give identical bytecode. Artifacts are cached
under <home>/build by a hash of the compiler input.
"""

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import solcx
from solcx.exceptions import SolcError

from node.errors import BuildError
from node.settings import Settings

_IMPORT = re.compile(r'^\s*import\s+(?:\{[^}]*\}\s+from\s+)?"([^"]+)"\s*;', re.MULTILINE)
MAIN_SOURCE = "contracts/SinkRegistry.sol"
MAIN_CONTRACT = "SinkRegistry"


@dataclass(frozen=True)
class ContractArtifact:
    name: str
    source: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    deployed_bytecode: bytes
    immutable_references: dict[str, list[dict[str, int]]]
    metadata: str


@dataclass(frozen=True)
class BuildOutput:
    compiler_version: str
    compiler_settings: dict[str, Any]
    input_hash: str
    contracts: dict[str, ContractArtifact]

    @property
    def registry(self) -> ContractArtifact:
        return self.contracts[MAIN_CONTRACT]


def compiler_config(root: Path) -> dict[str, Any]:
    config: dict[str, Any] = json.loads((root / "contracts" / "compiler.json").read_text())
    return config


def shim_path(root: Path) -> Path:
    return root / "scripts" / "solc-shim"


def collect_sources(root: Path) -> dict[str, str]:
    """Every .sol under contracts/ plus the imports they reach, keyed by source unit name."""
    sources: dict[str, str] = {}
    pending = [p.relative_to(root).as_posix() for p in sorted((root / "contracts").rglob("*.sol"))]
    while pending:
        name = pending.pop()
        if name in sources:
            continue
        path = root / name if name.startswith("contracts/") else root / "node_modules" / name
        if not path.is_file():
            raise BuildError(f"cannot find source {name} (did the npm install run?)")
        text = path.read_text()
        sources[name] = text
        for imported in _IMPORT.findall(text):
            if imported.startswith("."):
                imported = os.path.normpath(os.path.join(os.path.dirname(name), imported))
            pending.append(imported)
    return dict(sorted(sources.items()))


def standard_input(root: Path) -> dict[str, Any]:
    settings = dict(compiler_config(root)["settings"])
    settings["outputSelection"] = {
        "*": {
            "*": [
                "abi",
                "evm.bytecode.object",
                "evm.deployedBytecode.object",
                "evm.deployedBytecode.immutableReferences",
                "metadata",
            ]
        }
    }
    return {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in collect_sources(root).items()},
        "settings": settings,
    }


def compile_contracts(settings: Settings) -> BuildOutput:
    """Compiles (or loads from cache) the registry and everything under contracts/."""
    root = settings.project_root
    config = compiler_config(root)
    solc_input = standard_input(root)
    input_hash = hashlib.sha256(json.dumps([config["version"], solc_input], sort_keys=True).encode()).hexdigest()
    cache = settings.build_dir / f"{input_hash[:16]}.json"
    if cache.is_file():
        output = json.loads(cache.read_text())
    else:
        output = _run_solc(settings, solc_input, config["version"])
        settings.build_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps(output))
        tmp.replace(cache)
    return _artifacts(output, config, input_hash)


def _run_solc(settings: Settings, solc_input: dict[str, Any], version: str) -> dict[str, Any]:
    binary = settings.solc_binary or shim_path(settings.project_root)
    try:
        output: dict[str, Any] = solcx.compile_standard(
            solc_input, solc_binary=binary, allow_paths=str(settings.project_root)
        )
    except SolcError as exc:
        raise BuildError(f"solc refused the sources: {exc}") from exc
    except (OSError, FileNotFoundError) as exc:
        raise BuildError(f"cannot run solc at {binary}: {exc}") from exc
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise BuildError("\n".join(e["formattedMessage"] for e in errors))
    found = json.loads(output["contracts"][MAIN_SOURCE][MAIN_CONTRACT]["metadata"])["compiler"]["version"]
    if not found.startswith(version):
        raise BuildError(f"solc {found} is not the pinned {version} (contracts/compiler.json)")
    return output


def _artifacts(output: dict[str, Any], config: dict[str, Any], input_hash: str) -> BuildOutput:
    contracts: dict[str, ContractArtifact] = {}
    version = ""
    for source, by_name in output["contracts"].items():
        if not source.startswith("contracts/"):
            continue
        for name, item in by_name.items():
            code = item["evm"]["bytecode"]["object"]
            if not code:
                continue  # interfaces and abstract contracts
            version = json.loads(item["metadata"])["compiler"]["version"]
            contracts[name] = ContractArtifact(
                name=name,
                source=source,
                abi=item["abi"],
                bytecode=bytes.fromhex(code),
                deployed_bytecode=bytes.fromhex(item["evm"]["deployedBytecode"]["object"]),
                immutable_references=item["evm"]["deployedBytecode"].get("immutableReferences", {}),
                metadata=item["metadata"],
            )
    if MAIN_CONTRACT not in contracts:
        raise BuildError(f"the build has no {MAIN_CONTRACT}")
    return BuildOutput(
        compiler_version=version,
        compiler_settings=config["settings"],
        input_hash=input_hash,
        contracts=contracts,
    )


def mask_immutables(code: bytes, references: dict[str, list[dict[str, int]]]) -> bytes:
    """Runtime code with immutable slots zeroed: what is comparable between build and chain."""
    masked = bytearray(code)
    for spans in references.values():
        for span in spans:
            start, length = span["start"], span["length"]
            masked[start : start + length] = bytes(length)
    return bytes(masked)
