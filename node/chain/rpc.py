"""A minimal JSON-RPC client over keep-alive HTTP connections, one per thread.

The node needs a handful of methods and their raw answers (revert data, receipts, logs); a thin client
keeps those answers unformatted and makes transport failures one typed error. It speaks HTTP/1.1 through
the standard library's `http.client`: a write makes several calls in a row, and each costs a fraction of
what a general-purpose client's request does. A connection that fails is dropped and the next call opens
a new one, so a chain that restarts is reached again without restarting the node.
"""

import http.client
import itertools
import threading
from typing import Any
from urllib.parse import urlsplit

import orjson

from node.errors import ChainUnavailable, SinkError


class RpcError(SinkError):
    """The node answered with a JSON-RPC error (data holds revert bytes when there are any)."""

    code = "rpc_error"

    def __init__(self, rpc_code: int, message: str, data: str | None) -> None:
        super().__init__(f"JSON-RPC error {rpc_code}: {message}")
        self.rpc_code = rpc_code
        self.data = data

    @property
    def revert_data(self) -> bytes | None:
        if isinstance(self.data, str) and self.data.startswith("0x"):
            return bytes.fromhex(self.data[2:])
        return None


_JSON = {"content-type": "application/json", "connection": "keep-alive"}


def _result(answer: dict[str, Any]) -> Any:
    if "error" in answer:
        error = answer["error"]
        raise RpcError(error.get("code", 0), error.get("message", ""), error.get("data"))
    return answer["result"]


class RpcClient:
    def __init__(self, url: str, timeout_s: float = 30.0) -> None:
        self.url = url
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ChainUnavailable(f"not an HTTP JSON-RPC endpoint: {url}")
        self._secure = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._secure else 80)
        self._path = parts.path or "/"
        self._timeout = timeout_s
        self._local = threading.local()
        self._connections: list[http.client.HTTPConnection] = []
        self._connections_lock = threading.Lock()
        self._ids = itertools.count(1)
        self.http_requests = 0
        self.rpc_calls = 0

    def _connection(self) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            kind = http.client.HTTPSConnection if self._secure else http.client.HTTPConnection
            connection = kind(self._host, self._port, timeout=self._timeout)
            self._local.connection = connection
            with self._connections_lock:
                self._connections.append(connection)
        return connection

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            connection.close()
            with self._connections_lock:
                if connection in self._connections:
                    self._connections.remove(connection)

    def _post(self, body: Any, what: str) -> Any:
        payload = orjson.dumps(body)
        for attempt in (1, 2):
            connection = self._connection()
            try:
                connection.request("POST", self._path, body=payload, headers=_JSON)
                reply = connection.getresponse()
                content = reply.read()
                if reply.status >= 400:
                    raise ChainUnavailable(f"{what} at {self.url} failed: HTTP {reply.status}")
                answer = orjson.loads(content)
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                # A keep-alive connection the server closed meanwhile: once more on a new one. A request
                # that reached the server is not repeated by the server's JSON-RPC semantics: sending the
                # same signed transaction twice is harmless (the second is "already known").
                self._drop()
                if attempt == 2:
                    raise ChainUnavailable(f"{what} at {self.url} failed: {exc!r}") from exc
            except (OSError, http.client.HTTPException, ValueError) as exc:
                self._drop()
                raise ChainUnavailable(f"{what} at {self.url} failed: {exc!r}") from exc
            except ChainUnavailable:
                self._drop()
                raise
        self.http_requests += 1
        self.rpc_calls += len(body) if isinstance(body, list) else 1
        return answer

    def call(self, method: str, *params: Any) -> Any:
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        return _result(self._post(body, method))

    def call_batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Several calls in one HTTP request (JSON-RPC batch); results in the order asked."""
        if not calls:
            return []
        first = next(self._ids)
        body = [{"jsonrpc": "2.0", "id": first + i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        for _ in range(len(calls) - 1):
            next(self._ids)
        answers = self._post(body, f"batch of {len(calls)}")
        if not isinstance(answers, list):
            return [_result(answers)]  # a node that refused the batch as a whole
        by_id = {answer.get("id"): answer for answer in answers}
        return [_result(by_id[first + i]) for i in range(len(calls))]

    def chain_id(self) -> int:
        return int(self.call("eth_chainId"), 16)

    def block_number(self) -> int:
        return int(self.call("eth_blockNumber"), 16)

    def get_code(self, address: str, block: str = "latest") -> bytes:
        return bytes.fromhex(self.call("eth_getCode", address, block)[2:])

    def client_version(self) -> str:
        return str(self.call("web3_clientVersion"))

    def close(self) -> None:
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()

    def __enter__(self) -> "RpcClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
