"""A minimal JSON-RPC client over one keep-alive HTTP connection.

The node needs a handful of methods and their raw answers (revert data, receipts, logs); a
thin client keeps those answers unformatted and makes transport failures one typed error.
"""

import itertools
from typing import Any

import httpx
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


_JSON = {"content-type": "application/json"}


def _result(answer: dict[str, Any]) -> Any:
    if "error" in answer:
        error = answer["error"]
        raise RpcError(error.get("code", 0), error.get("message", ""), error.get("data"))
    return answer["result"]


class RpcClient:
    def __init__(self, url: str, timeout_s: float = 30.0) -> None:
        self.url = url
        self._http = httpx.Client(timeout=timeout_s)
        self._ids = itertools.count(1)
        self.http_requests = 0
        self.rpc_calls = 0

    def _post(self, body: Any, what: str) -> Any:
        try:
            reply = self._http.post(self.url, content=orjson.dumps(body), headers=_JSON)
            reply.raise_for_status()
            answer = orjson.loads(reply.content)
        except (httpx.HTTPError, ValueError) as exc:
            raise ChainUnavailable(f"{what} at {self.url} failed: {exc}") from exc
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
        self._http.close()

    def __enter__(self) -> "RpcClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
