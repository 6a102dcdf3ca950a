"""The fate of a write: `GET /v1/intents/{id}` (its caller, or a regulator)."""

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi import Path as ApiPath

from node.api.deps import CallerDep, ServicesDep
from node.api.errors import ApiError, not_found
from node.api.responses import Intent
from node.chain.registry import ROLE_REGULATOR

router = APIRouter(prefix="/v1", tags=["participants"])


@router.get(
    "/intents/{intent_id}",
    response_model=Intent,
    response_model_exclude_unset=True,
    summary="A write's intent: reserved, sent, done or failed, its transactions and, once settled, its answer",
)
def get_intent(
    intent_id: Annotated[int, ApiPath(ge=1, le=2**62)], caller: CallerDep, services: ServicesDep
) -> dict[str, Any]:
    try:
        view = services.writes.view(intent_id)
    except KeyError:
        raise not_found(f"intent {intent_id}") from None
    if view["actor"] != caller.account and not caller.has(ROLE_REGULATOR):
        raise ApiError(403, "forbidden", "an intent is visible to the participant that made it and regulators")
    return view
