"""One real node per test module: anvil, a deployment, the API with its indexer on a free port, and
API tokens for a cast of participants registered on chain through the API itself."""

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from node.api.app import create_app
from node.api.state import NodeState
from node.chain.anvil import AnvilConfig, AnvilProcess, anvil_binary, free_port
from node.chain.deploy import ensure_deployed
from node.chain.keystore import Keystore
from node.demo import CAST, prepare_participants
from node.settings import PROJECT_ROOT, Settings, load_settings


@dataclass
class Node:
    settings: Settings
    url: str
    tokens: dict[str, str]
    addresses: dict[str, str]
    http: httpx.Client

    def call(self, method: str, path: str, who: str | None = None, **kwargs) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.tokens[who]}"} if who else {}
        headers.update(kwargs.pop("headers", {}))
        return self.http.request(method, path, headers=headers, **kwargs)

    def ok(self, method: str, path: str, who: str | None = None, **kwargs):
        reply = self.call(method, path, who, **kwargs)
        assert reply.status_code < 400, f"{method} {path}: {reply.status_code} {reply.text}"
        return reply.json()


def _server(settings: Settings) -> tuple[uvicorn.Server, threading.Thread]:
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=settings.api_port,
                                           log_level="warning"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    return server, thread


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    home: Path = tmp_path_factory.mktemp("node")
    anvil_port, api_port = free_port(), free_port()
    settings = load_settings(home=home, anvil_port=anvil_port, api_port=api_port, keystore_scrypt_n=2**10,
                             build_cache_dir=PROJECT_ROOT / "build" / "test-home" / "build",
                             evidence_key="33" * 32)  # fmt: skip
    config = AnvilConfig(binary=anvil_binary(PROJECT_ROOT), port=anvil_port)
    with AnvilProcess(config):
        ensure_deployed(settings)
        state = NodeState(settings.node_state_path)
        tokens = prepare_participants(settings, state)
        state.close()
        server, thread = _server(settings)
        keystore = Keystore.from_settings(settings)
        addresses = {name: keystore.address(name) for name in CAST}
        http = httpx.Client(base_url=settings.base_url, timeout=60)
        handle = Node(settings, settings.base_url, tokens, addresses, http)
        try:
            for name, (organisation, roles, _) in CAST.items():
                if name != "admin":
                    body = {"account": addresses[name], "organisation": organisation, "roles": roles}
                    handle.ok("POST", "/v1/admin/participants", "admin", json=body)
            yield handle
        finally:
            http.close()
            server.should_exit = True
            thread.join(timeout=30)
