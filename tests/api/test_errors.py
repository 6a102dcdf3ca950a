"""Nothing answers plain text: an unhandled exception is a JSON 500 naming a request id that the log
line carries with the traceback; every response carries its request id. Over real HTTP, as a client sees it."""

import logging
import socket
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from node.api.errors import install_error_handlers
from node.chain.anvil import free_port
from node.devnode import served
from node.errors import ContractRevert

SECRET = "password=hunter2 at /srv/secret/path"


def tiny_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError(SECRET)

    @app.get("/ok")
    def ok() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/refused")
    def refused() -> None:
        raise ContractRevert("BatchFrozen", {"batchId": 7})

    @app.get("/stream")
    def stream() -> StreamingResponse:
        return StreamingResponse(iter([b"a" * 1000] * 50), media_type="application/octet-stream")

    return app


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    port = free_port()
    # log_config=None: uvicorn leaves logging alone, so a second traceback from the server would reach caplog.
    with served(tiny_app(), port, timeout_s=20, log_config=None):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        yield client


def test_an_unhandled_exception_is_a_json_500_with_its_request_id_and_a_logged_traceback(http, caplog):
    with caplog.at_level(logging.INFO):
        reply = http.get("/boom")
    assert reply.status_code == 500
    assert reply.headers["content-type"] == "application/json"
    request_id = reply.headers["x-request-id"]
    assert len(request_id) >= 16
    body = reply.json()
    assert body["error"]["code"] == "internal_error"
    assert request_id in body["error"]["message"]
    assert "hunter2" not in reply.text and "RuntimeError" not in reply.text

    logged = [r for r in caplog.records if r.name == "sinknode.api"]
    assert len(logged) == 1
    record = logged[0]
    assert record.levelno == logging.ERROR
    assert record.request_id == request_id
    line = record.getMessage()
    assert request_id in line and "GET" in line and "/boom" in line
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError
    text = caplog.text
    assert "Traceback (most recent call last)" in text and SECRET in text and "in boom" in text
    # The server does not log it a second time (without the id), and keeps the connection usable.
    assert not [r for r in caplog.records if "Exception in ASGI application" in r.getMessage()]
    assert http.get("/ok").json() == {"ok": True}


def test_every_response_carries_a_request_id(http):
    ids = set()
    for path, status in (("/ok", 200), ("/refused", 409), ("/nowhere", 404), ("/stream", 200)):
        reply = http.get(path)
        assert reply.status_code == status
        ids.add(reply.headers["x-request-id"])
    assert len(ids) == 4, "each request has its own id"
    assert http.get("/refused").json()["error"]["code"] == "BatchFrozen"
    assert len(http.get("/stream").content) == 50_000


def test_a_clients_request_id_is_echoed_in_the_header_the_message_and_the_log(http, caplog):
    mine = "checkout-2026.11_27-0001"
    assert http.get("/ok", headers={"X-Request-Id": mine}).headers["x-request-id"] == mine
    with caplog.at_level(logging.ERROR, logger="sinknode.api"):
        reply = http.get("/boom", headers={"X-Request-Id": mine})
    assert reply.headers["x-request-id"] == mine and mine in reply.json()["error"]["message"]
    assert [r.request_id for r in caplog.records if r.name == "sinknode.api"] == [mine]


@pytest.mark.parametrize("hostile", ["x" * 65, "two words", "semi;colon", "<script>", "back\\slash", "ünïcode"])
def test_a_hostile_request_id_is_replaced(http, hostile):
    reply = http.get("/ok", headers={"X-Request-Id": hostile.encode()})
    echoed = reply.headers["x-request-id"]
    assert echoed != hostile and echoed.isalnum() and len(echoed) <= 64


def test_a_request_id_with_control_characters_is_replaced(base_url):
    # A line break cannot reach the app (the HTTP parser refuses the request); a tab can, sent from a raw socket.
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET /ok HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc\tforged\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower().split("\r\n")
    assert head[0] == "http/1.1 200 ok"
    echoed = [line.split(":", 1)[1].strip() for line in head if line.startswith("x-request-id:")]
    assert len(echoed) == 1 and echoed[0].isalnum() and "abc" not in echoed[0]
