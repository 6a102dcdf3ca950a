"""/docs without a CDN: Swagger UI's files come from the swagger-ui-bundle package and are served by the node.

FastAPI's own page loads them from a CDN and starts Swagger UI from an inline script, which the
Content-Security-Policy (node.api.security) forbids; this page starts it from /static/docs.js instead.
ReDoc is turned off (`redoc_url=None`): its styles are injected inline.
"""

from html import escape
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

STATIC_DIR = Path(__file__).resolve().parent / "static"
SWAGGER_ASSETS = "/static/swagger-ui"


def docs_page(title: str, openapi_url: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)} · API</title>"
        f"<link rel='stylesheet' href='{SWAGGER_ASSETS}/swagger-ui.css'>"
        f"<link rel='icon' type='image/png' href='{SWAGGER_ASSETS}/favicon-32x32.png'>"
        f"</head><body><div id='swagger-ui' data-openapi-url='{escape(openapi_url)}'></div>"
        f"<script src='{SWAGGER_ASSETS}/swagger-ui-bundle.js'></script>"
        "<script src='/static/docs.js'></script></body></html>"
    )


def install_docs(app: FastAPI) -> None:
    """The /docs page, Swagger UI's files and the node's own static files (the pages' CSS, docs.js).
    Swagger UI's mount comes first: /static would otherwise answer its paths with 404s."""
    assert app.openapi_url is not None
    page = docs_page(app.title, app.openapi_url)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(page)

    app.mount(SWAGGER_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
