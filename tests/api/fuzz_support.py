"""What the schema-driven fuzz modules share: the schema under test, its configuration, the checks, and which
participant's token each operation is called with."""

import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from node.api.app import create_app
from node.settings import load_settings
from tests.engines import IN_POSTGRES

# Positive and negative inputs; the coverage phase is off: its exhaustive boundary cases over 80 operations
# against a chain-backed node would not fit the module's few minutes.
CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {"mode": "all", "max-examples": 15},
        "phases": {"coverage": {"enabled": False}},
    }
)


def load_schema() -> Any:
    # The schema is static: building the app does not start anything (services start with its lifespan).
    app = create_app(load_settings(home=Path(tempfile.gettempdir()) / "sinkledger-schema"))
    schema = schemathesis.openapi.from_dict(app.openapi(), config=CONFIG)
    if IN_POSTGRES:  # the SQL console answers 503 there (tests/api/test_regulator.py checks that)
        schema = schema.exclude(path_regex="^/v1/regulator/sql")
    return schema


@schemathesis.check
def error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every refusal in the one shape `{"error": {"code", "message"}}`."""
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    return None


CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    error_shape,
]


def who_calls(method: str, path: str) -> str:
    """A role that may use the operation, so that refusals come from the input, not from the role."""
    if path.startswith("/v1/regulator"):
        return "regulator"
    if path.startswith("/v1/admin"):
        return "admin"
    if method == "POST" and path == "/v1/batches":
        return "issuer"
    if path == "/v1/verifications":
        return "verifier"
    if path.startswith(("/v1/offers", "/v1/deals", "/v1/me/deals")) or path.endswith("/offers"):
        return "buyer"
    if path.startswith("/v1/offsets"):
        return "platform"
    return "park"


def call_kwargs(node: Any, case: Any) -> dict[str, Any]:
    token = node.tokens[who_calls(case.method.upper(), case.path)]
    return {"base_url": node.url, "headers": {"authorization": f"Bearer {token}"}, "timeout": 60}
