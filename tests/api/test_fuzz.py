"""Schema-driven fuzzing of every operation (schemathesis, positive and negative inputs): never a 5xx, every
answer's status, media type and body as the OpenAPI document declares, every refusal in the one error shape."""

from hypothesis import HealthCheck, settings

from tests.api.fuzz_support import CHECKS, call_kwargs, load_schema

schema = load_schema()


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case, node):
    kwargs = call_kwargs(node, case)
    response = case.call(**kwargs)
    case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)
