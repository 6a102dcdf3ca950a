"""Rate limits: writes per API token and per client address, reads and pages per client address.

A pure ASGI middleware that decides on the request line and headers alone, so a refused request's body is
never read. Counters live in a `limits` storage (memory by default; a redis:// URI lets several worker
processes share them) with moving windows. A refusal is a 429 `rate_limited` with `Retry-After`; a request
refused by one limit does not use up the others. /healthz is never limited, and exempt addresses not at all.

The token's key is a SHA-256 of the Authorization header: the token itself is neither stored nor logged.
Behind a reverse proxy, run uvicorn with --proxy-headers (and --forwarded-allow-ips) so the client address
is the caller's and not the proxy's.
"""

import hashlib
import ipaddress
import math
import time
from dataclasses import dataclass

from fastapi.responses import JSONResponse
from limits import RateLimitItem, parse_many
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from starlette.types import ASGIApp, Receive, Scope, Send

from node.api.errors import error_body
from node.settings import Settings

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NEVER_LIMITED = frozenset({"/healthz"})


@dataclass(frozen=True)
class Limit:
    name: str  # also the counters' namespace
    items: list[RateLimitItem]  # empty: no limit
    refusal: str


def _parse(text: str) -> list[RateLimitItem]:
    return parse_many(text) if text.strip() else []


def _storage_uri(uri: str) -> str:
    # The middleware awaits its counters, so it needs the storage's asyncio flavour of the same URI.
    return uri if uri.startswith("async+") else f"async+{uri}"


class RateLimits:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.limiter = MovingWindowRateLimiter(storage_from_string(_storage_uri(settings.rate_limit_storage)))
        self.per_token = Limit("write-token", _parse(settings.rate_limit_writes), "too many writes with this token")
        self.per_address = Limit(
            "write-address", _parse(settings.rate_limit_writes_per_address), "too many writes from this address"
        )
        self.reads = Limit("read-address", _parse(settings.rate_limit_reads), "too many requests from this address")
        self.exempt = [ipaddress.ip_network(network) for network in settings.rate_limit_exempt]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in NEVER_LIMITED:
            await self.app(scope, receive, send)
            return
        address = scope["client"][0] if scope.get("client") else "unknown"
        if self._exempt(address):
            await self.app(scope, receive, send)
            return
        checks: list[tuple[Limit, str]]
        if scope["method"] in WRITE_METHODS:
            checks = [(self.per_address, address)]
            authorization = next((v for k, v in scope["headers"] if k == b"authorization"), None)
            if authorization:
                checks.insert(0, (self.per_token, hashlib.sha256(authorization).hexdigest()))
        else:
            checks = [(self.reads, address)]
        refused = await self._refusal(checks)
        if refused is not None:
            message, retry_after = refused
            response = JSONResponse(
                error_body("rate_limited", f"{message}; retry in {retry_after} s"),
                status_code=429,
                headers={"Retry-After": str(retry_after)},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _exempt(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.exempt)

    async def _refusal(self, checks: list[tuple[Limit, str]]) -> tuple[str, int] | None:
        """Tests every window first and counts the request only if all admit it, so a refused request costs
        nothing (test-then-hit may let a burst overshoot by the few requests in flight at once; fine here)."""
        for limit, key in checks:
            for item in limit.items:
                if not await self.limiter.test(item, limit.name, key):
                    stats = await self.limiter.get_window_stats(item, limit.name, key)
                    return limit.refusal, max(1, math.ceil(stats.reset_time - time.time()))
        for limit, key in checks:
            for item in limit.items:
                await self.limiter.hit(item, limit.name, key)
        return None
