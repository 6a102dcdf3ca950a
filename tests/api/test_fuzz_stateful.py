"""Stateful fuzzing over the OpenAPI links (and the links schemathesis infers): a created listing, offer,
project, batch, retirement, evidence bundle or intent is read and acted on next, with the same checks as
test_fuzz. The park holds an issued batch and a deposit first, so listings and what follows can succeed."""

import pytest
from hypothesis import HealthCheck, Phase, settings

from node.devflows import deposit, issued_batch
from tests.api.fuzz_support import CHECKS, call_kwargs, load_schema

schema = load_schema()


@pytest.fixture(scope="module")
def seeded(node):
    issued_batch(node)
    assert deposit(node).status_code == 201
    return node


def test_linked_operations_answer_as_documented(seeded):
    node = seeded
    answered: list[int] = []

    class Run(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case):
            return call_kwargs(node, case)

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            answered.append(response.status_code)
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs or None)

    Run.run(
        settings=settings(
            max_examples=60,
            stateful_step_count=10,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
    )
    # The machine really ran, and some steps got past validation into the ledger.
    assert len(answered) > 100 and any(status < 300 for status in answered), answered[:50]
