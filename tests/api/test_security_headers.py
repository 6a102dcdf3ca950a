"""Every answer carries the security headers: JSON, pages' files, /docs, 404s, 405s, 422s, 429s and 500s.

The app runs over real HTTP without its lifespan (no chain, no services): what needs no services answers as
always, and a route that does need them fails with the node's real 500 `internal_error`.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from node.api.app import create_app
from node.api.security import CONTENT_SECURITY_POLICY
from node.chain.anvil import free_port
from node.devnode import served
from node.settings import load_settings


@contextmanager
def serving(home: Path, **overrides: Any) -> Iterator[httpx.Client]:
    port = free_port()
    app = create_app(load_settings(home=home, api_port=port, **overrides))
    with (
        served(app, port, timeout_s=10, log_level="critical", lifespan="off"),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with serving(tmp_path_factory.mktemp("plain"), rate_limit_reads="40/minute", rate_limit_exempt=[]) as client:
        yield client


def assert_secured(reply: httpx.Response, *, https: bool = False) -> None:
    assert reply.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY and "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert reply.headers["x-request-id"]
    assert ("strict-transport-security" in reply.headers) is https


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/healthz", 200),
        ("GET", "/openapi.json", 200),
        ("GET", "/docs", 200),
        ("GET", "/static/docs.js", 200),
        ("GET", "/static/pages.css", 200),
        ("GET", "/static/swagger-ui/swagger-ui-bundle.js", 200),
        ("GET", "/no/such/page", 404),
        ("GET", "/static/no-such-file.css", 404),
        ("DELETE", "/healthz", 405),
        ("GET", "/v1/status", 500),  # no services without the lifespan: the real catch-all answers
    ],
)
def test_every_answer_carries_the_headers(plain, method, path, status):
    reply = plain.request(method, path)
    assert reply.status_code == status, reply.text[:300]
    assert_secured(reply)
    if status >= 400:
        assert set(reply.json()["error"]) == {"code", "message"}


def test_the_docs_page_has_no_inline_script_or_style(plain):
    page = plain.get("/docs").text
    assert "<style" not in page and "style=" not in page
    assert page.count("<script") == page.count("<script src=") == 2
    assert "cdn" not in page.lower() and "//" not in page.replace("<!doctype", "")  # nothing from another host
    assert plain.get("/redoc").status_code == 404  # ReDoc injects inline styles: off


def test_a_rate_limited_answer_carries_them_too(plain):
    replies = [plain.get("/openapi.json") for _ in range(45)]
    refused = [r for r in replies if r.status_code == 429]
    assert refused, "40/minute let 45 reads through"
    assert_secured(refused[0])


def test_hsts_only_when_the_node_is_public_over_https(tmp_path):
    with serving(tmp_path, public_url="https://registry.example.cn") as client:
        reply = client.get("/healthz")
        assert_secured(reply, https=True)
        assert reply.headers["strict-transport-security"].startswith("max-age=31536000")
        assert_secured(client.get("/nowhere"), https=True)
