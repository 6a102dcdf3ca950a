"""registry/ stays pure domain: it imports nothing of the chain, the web, the database or the node."""

import ast

from node.settings import PROJECT_ROOT

FORBIDDEN = ("web3", "eth_", "fastapi", "starlette", "sqlmodel", "sqlalchemy", "httpx", "node")


def test_registry_imports_no_chain_web_or_node_code():
    offenders = []
    for path in (PROJECT_ROOT / "registry").rglob("*.py"):
        for item in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(item, ast.Import):
                names = [alias.name for alias in item.names]
            elif isinstance(item, ast.ImportFrom) and item.module:
                names = [item.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0].startswith(FORBIDDEN)]
    assert offenders == []
