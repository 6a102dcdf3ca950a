"""Hostile bodies (node.api.limits), over real HTTP to a real node: nesting that would crash a parser is refused
before anything parses it (before the token is even looked at), bodies over a route's size are refused before
they are read (by Content-Length) or as soon as a stream passes the size, and the node keeps answering."""

import select
import socket
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from node.api.errors import install_error_handlers
from node.api.limits import BODY_KINDS, BodyLimitMiddleware, BodyLimits
from node.chain.anvil import free_port
from node.devflows import error_of
from node.devnode import LocalNode, served
from tests.engines import needs_sqlite_console

MB = 1 << 20
JSON = {"content-type": "application/json"}


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def healthy(node: LocalNode) -> bool:
    return node.call("GET", "/healthz").json() == {"status": "ok"}


def test_a_body_nested_100000_deep_is_refused_before_the_token_is_even_looked_at(node):
    reply = node.call("POST", "/v1/transfers", content=nested(100_000), headers=JSON)
    assert error_of(reply) == (422, "too_deeply_nested")
    assert healthy(node)


def test_a_million_deep_body_to_a_bulk_route_is_refused_and_the_node_lives_on(node):
    reply = node.call("POST", "/v1/offsets/logistics", "platform", content=nested(1_000_000), headers=JSON)
    assert error_of(reply) == (422, "too_deeply_nested")
    # The bulk routes read their raw bytes as JSON whatever the content type says: scanned all the same.
    reply = node.call(
        "POST", "/v1/campaigns/1/subscriptions", content=nested(1_000_000), headers={"content-type": "text/plain"}
    )
    assert error_of(reply) == (422, "too_deeply_nested")
    assert healthy(node)


@pytest.mark.parametrize("content_type", ["application/json", "application/merge-patch+json", None])
def test_every_body_parsed_as_json_is_scanned(node, content_type):
    headers = {"content-type": content_type} if content_type else {}
    reply = node.call("POST", "/v1/transfers", "park", content=nested(65), headers=headers)
    assert error_of(reply) == (422, "too_deeply_nested")


def test_depth_64_passes_the_scan_and_the_route_answers_as_it_would(node):
    reply = node.call("POST", "/v1/transfers", "park", content=nested(64), headers=JSON)
    assert error_of(reply) == (422, "validation_error")  # the route's own answer: a list is not a transfer


def test_brackets_and_escaped_quotes_inside_strings_do_not_count(node):
    text = '\\"' + "[" * 200 + "{" * 200 + '\\"'
    body = ('{"batch_id": "' + text + '", "to": "' + text + '", "amount": 1}').encode()
    reply = node.call("POST", "/v1/transfers", "park", content=body, headers=JSON)
    assert error_of(reply) == (422, "validation_error")


def test_a_body_over_1_mb_is_refused_by_its_content_length(node):
    at_limit = b"{}" + b" " * (MB - 2)
    assert error_of(node.call("POST", "/v1/transfers", "park", content=at_limit, headers=JSON))[1] != (
        "payload_too_large"
    )
    reply = node.call("POST", "/v1/transfers", "park", content=at_limit + b" ", headers=JSON)
    assert error_of(reply) == (413, "payload_too_large")


def test_a_body_declared_at_100_mb_is_answered_before_it_is_sent(node):
    sent, answer = stream_until_answered(node.settings.api_port, "/v1/transfers", total=100 * MB, content_length=True)
    assert answer.startswith(b"HTTP/1.1 413") and b'"payload_too_large"' in answer
    assert sent < 2 * MB, f"the answer came only after {sent} bytes"


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(node):
    sent, answer = stream_until_answered(node.settings.api_port, "/v1/transfers", total=100 * MB, content_length=False)
    assert answer.startswith(b"HTTP/1.1 413") and b'"payload_too_large"' in answer
    # What was sent past the limit is what was in flight (socket buffers) when the answer came: about 0.1 to
    # 0.3 MB here; the bound leaves room for the kernel's buffers to have grown on a loaded machine.
    assert MB < sent < 4 * MB, f"the answer came after {sent} bytes of a 100 MB body"


def test_a_client_sending_a_generator_gets_its_413_without_sending_it_all(node):
    yielded = 0

    def endless() -> Iterator[bytes]:
        nonlocal yielded
        for _ in range(100 * 16):  # 100 MB in all
            yielded += 64 << 10
            yield b" " * (64 << 10)

    reply = node.call("POST", "/v1/transfers", "park", content=endless(), headers=JSON)
    assert error_of(reply) == (413, "payload_too_large")
    assert yielded < 16 * MB, f"the client had to yield {yielded} bytes before the answer"
    assert healthy(node)


@needs_sqlite_console  # the route it streams to
def test_a_streamed_body_within_the_limit_reaches_the_route_unchanged(node):
    pieces = [b'{"query": ', b'"SELECT 41 + 1 AS ', b'answer"}']
    reply = node.call("POST", "/v1/regulator/sql", "regulator", content=iter(pieces), headers=JSON)
    assert reply.status_code == 200, reply.text
    assert "answer" in reply.text and "42" in reply.text


def test_an_evidence_upload_may_be_bigger_than_a_json_body_but_not_past_its_own_cap(node):
    files = {"files": ("inventory.bin", b"\x00" * (2 * MB), "application/octet-stream")}
    reply = node.call("POST", "/v1/evidence", "park", data={"project_id": "999999"}, files=files)
    assert error_of(reply)[1] != "payload_too_large"
    cap = node.settings.max_upload_bytes
    sent, answer = stream_until_answered(
        node.settings.api_port,
        "/v1/evidence",
        total=cap + MB,
        content_length=True,
        content_type="multipart/form-data; boundary=x",
    )
    assert answer.startswith(b"HTTP/1.1 413") and sent < 2 * MB


def test_every_route_in_the_limits_table_is_a_route_of_the_app(node):
    paths = node.ok("GET", "/openapi.json")["paths"]
    for template in BODY_KINDS:
        assert "post" in paths.get(template, {}), f"{template}: a renamed route would fall back to the JSON limit"


def test_the_recursion_limit_py_ecc_raises_is_put_back(node, tmp_path):
    # In this process: the node under test was built by create_app.
    assert sys.getrecursionlimit() <= 1000
    # In a fresh one: importing the app (web3, eth_account, py_ecc) raises it, building the app puts it back.
    script = (
        "import sys\n"
        "from node.api.app import create_app\n"
        "from node.settings import load_settings\n"
        "print(sys.getrecursionlimit())\n"
        f"create_app(load_settings(home={str(tmp_path)!r}))\n"
        "print(sys.getrecursionlimit())\n"
    )
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    imported, built = map(int, ran.stdout.split())
    assert imported >= 100_000 and built == 1000


# A small app behind the middleware, with small limits: what reaches a route, and what a streaming route sees.
SMALL = BodyLimits(json_bytes=1000, bulk_json_bytes=10_000, upload_bytes=100_000, json_depth=4)
seen: dict[str, object] = {}


def small_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/v1/evidence")
    async def upload(request: Request) -> dict[str, int]:
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
        finally:
            seen["upload"] = size
        return {"size": size}

    @app.post("/echo")
    async def echo(request: Request) -> Response:
        return Response(await request.body(), media_type=request.headers.get("content-type"))

    app.add_middleware(BodyLimitMiddleware, limits=SMALL)
    return app


@pytest.fixture(scope="module")
def small() -> Iterator[httpx.Client]:
    port = free_port()
    with (
        served(small_app(), port, timeout_s=20, log_level="warning"),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
    ):
        yield client


def test_a_json_body_reaches_the_route_byte_for_byte(small):
    body = b'  {"b" :[1, 2.50, "\\u005b\\"" ],\n "a":{}}  '
    for content in (body, iter([body[:7], body[7:20], body[20:]])):  # whole, and chunked
        reply = small.post("/echo", content=content, headers=JSON)
        assert reply.status_code == 200 and reply.content == body


def test_an_upload_streams_through_counted_and_is_cut_off_past_its_limit(small):
    multipart = {"content-type": "multipart/form-data; boundary=x"}
    reply = small.post("/v1/evidence", content=iter([b"x" * 10_000] * 9), headers=multipart)
    assert reply.json() == {"size": 90_000}
    reply = small.post("/v1/evidence", content=iter([b"x" * 10_000] * 1000), headers=multipart)
    assert error_of(reply) == (413, "payload_too_large")
    assert seen["upload"] <= SMALL.upload_bytes, "the route saw no byte past the limit"
    # Not JSON, so not scanned (a route would not parse it): only its size counts.
    reply = small.post("/echo", content=b"[" * 900, headers={"content-type": "text/plain"})
    assert reply.status_code == 200
    reply = small.post("/echo", content=b"x" * 1001, headers={"content-type": "text/plain"})
    assert error_of(reply) == (413, "payload_too_large")
    assert small.post("/echo", content=b"[[[[[]]]]]", headers=JSON).json()["error"]["code"] == "too_deeply_nested"


def stream_until_answered(
    port: int, path: str, *, total: int, content_length: bool, content_type: str = "application/json"
) -> tuple[int, bytes]:
    """Sends a body of `total` bytes (blanks), in 64 KiB pieces, until the server answers; returns how many
    bytes had been handed to the socket by then, and the answer. A raw socket, so that the answer is read
    the moment it comes (an HTTP client would first send the whole body)."""
    piece = 64 << 10
    framing = f"content-length: {total}" if content_length else "transfer-encoding: chunked"
    head = f"POST {path} HTTP/1.1\r\nhost: test\r\ncontent-type: {content_type}\r\n{framing}\r\n\r\n"
    frame = b" " * piece if content_length else b"%x\r\n" % piece + b" " * piece + b"\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, piece)  # little in flight: a tight count
        sock.sendall(head.encode())
        sock.setblocking(False)
        sent, pending = 0, b""
        while True:
            readable, _, _ = select.select([sock], [sock], [], 30)
            if readable:
                break
            if not pending:
                assert sent < total, "the whole body went without an answer"
                pending, sent = frame, sent + piece
            try:
                pending = pending[sock.send(pending) :]
            except BlockingIOError:
                pass
            except (BrokenPipeError, ConnectionResetError):
                break
        sock.setblocking(True)
        answer = b""
        try:
            while part := sock.recv(1 << 16):
                answer += part
        except ConnectionResetError:
            pass  # the server closes with the rest of the body unread: its answer came first
    return sent, answer
