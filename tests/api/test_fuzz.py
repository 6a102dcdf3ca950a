"""Schema-driven fuzzing of the whole API (schemathesis, valid and invalid inputs): never a 5xx, and every
refusal in the one error shape."""

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from node.api.app import create_app
from node.settings import load_settings

# The schema is static: building the app does not start anything (services start with its lifespan).
_schema_app = create_app(load_settings(home=Path(tempfile.gettempdir()) / "sinkledger-schema"))
schema = schemathesis.openapi.from_dict(_schema_app.openapi())


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_the_api_fail(case, node):
    who = "regulator" if case.path.startswith("/v1/regulator") else "admin"
    response = case.call(base_url=node.url, headers={"authorization": f"Bearer {node.tokens[who]}"}, timeout=60)
    assert response.status_code < 500, f"{case.method} {case.path}: {response.status_code} {response.text[:300]}"
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
