"""The app factory: nothing is built at import time; `create_app(settings)` wires everything."""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from node.api.docs import install_docs
from node.api.errors import install_error_handlers, status_of
from node.api.idempotency import IdempotencyMiddleware
from node.api.limits import BodyLimitMiddleware, BodyLimits
from node.api.monitoring_schema import install_monitoring_schema
from node.api.ratelimit import RateLimits
from node.api.routes import (
    audit,
    campaigns,
    credit,
    deals,
    discovery,
    evidence_sharing,
    intents,
    listings,
    offsets,
    pages,
    participants,
    peers,
    plausibility,
    pledges,
    public,
    regulator,
    regulator_pages,
    safeguards,
    statements,
    supervision,
)
from node.api.schemas import ErrorResponse
from node.api.security import install_security_headers
from node.market.saved_needs import watch_saved_needs
from node.recursion import restore_recursion_limit
from node.services import Services
from node.settings import Settings
from node.supervision.credit import watch_credit

_ERRORS = {status: {"model": ErrorResponse} for status in (401, 403, 404, 409, 413, 422, 429, 500, 503)}


def create_app(settings: Settings, *, services: Services | None = None, run_indexer: bool = True) -> FastAPI:
    # The eth libraries' imports (py_ecc) raised it to 100,000, where a deeply nested body crashes the process.
    restore_recursion_limit()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Bulk requests build tens of thousands of objects at once; collecting the youngest generation every
        # 700 allocations (the default) then costs more than the request's own work.
        gc.set_threshold(50_000, 20, 20)
        built = services or Services.from_settings(settings)
        built.writes.error_status = status_of  # failed intents keep the status their refusal answers with
        if run_indexer:
            built.start_indexer()
            built.start_task("saved-needs", watch_saved_needs)
            built.start_task("credit", watch_credit)
        app.state.services = built
        try:
            yield
        finally:
            built.close()

    app = FastAPI(
        title="sinkledger node",
        version="0.1.0",
        description="Garden carbon-sink certificates: public provenance, participants' writes, regulator audit.",
        lifespan=lifespan,
        responses=_ERRORS,
        docs_url=None,  # node.api.docs serves /docs offline
        redoc_url=None,
    )
    install_error_handlers(app)
    # Every write honours Idempotency-Key (node.api.idempotency); the store is the services' own.
    app.add_middleware(IdempotencyMiddleware, store_of=lambda: app.state.services.state)
    # Body sizes and JSON depth (node.api.limits), checked before anything buffers or parses a body: outside
    # idempotency, which buffers writes' bodies; inside the rate limits, so a refused flood costs no scan.
    app.add_middleware(BodyLimitMiddleware, limits=BodyLimits.from_settings(settings))
    # Outside idempotency, so a refused request is never read or remembered (node.api.ratelimit).
    app.add_middleware(RateLimits, settings=settings)
    app.include_router(public.router)
    app.include_router(statements.router)
    app.include_router(audit.router)
    app.include_router(credit.router)
    app.include_router(pledges.router)
    app.include_router(peers.router)
    app.include_router(evidence_sharing.router)
    app.include_router(participants.router)
    app.include_router(plausibility.router)
    app.include_router(intents.router)
    app.include_router(regulator.router)
    app.include_router(offsets.router)
    app.include_router(listings.router)
    app.include_router(discovery.router)
    app.include_router(deals.router)
    app.include_router(safeguards.router)
    app.include_router(campaigns.router)
    app.include_router(supervision.router)
    app.include_router(regulator_pages.router)
    app.include_router(pages.router)

    @app.get("/healthz", tags=["public"], summary="Liveness: answers without touching the chain or the index")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    install_monitoring_schema(app)  # the monitoring body's models, which no route parses with
    install_docs(app)
    install_security_headers(app, settings.public_url)  # last: outermost, so every answer carries them
    return app


def app_from_environment() -> FastAPI:
    """The app for the settings in the environment: what `sinknode up` and `serve` run (uvicorn factory)."""
    from node.settings import load_settings

    return create_app(load_settings())
