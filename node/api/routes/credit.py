"""Participants' credit ratings over HTTP: the public score with its public facts for everyone (JSON and a
page), the supervisory score with every fact and its history for regulators (node.supervision.credit)."""

import time
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as ApiPath
from fastapi.responses import HTMLResponse

from node.api.deps import ReaderDep, RegulatorDep, ServicesDep
from node.api.labels import LABELS
from node.api.responses import Credit
from node.api.site import Lang, page
from node.supervision.credit import credit_of, recomputed

router = APIRouter(tags=["credit"])
AccountPath = Annotated[str, ApiPath(pattern=r"^0x[0-9a-fA-F]{40}$")]


@router.get("/v1/participants/{account}/credit", response_model=Credit, response_model_exclude_none=True,
            summary="A participant's credit score and the public facts behind it")  # fmt: skip
def public_credit(account: AccountPath, services: ServicesDep) -> dict[str, Any]:
    return credit_of(services, account, regulator=False)


@router.get("/v1/regulator/participants/{account}/credit", response_model=Credit, response_model_exclude_none=True,
            summary="A participant's supervisory score: every fact, the history, and the score recomputed")  # fmt: skip
def supervisory_credit(account: AccountPath, caller: RegulatorDep, services: ServicesDep,
                       reader: ReaderDep) -> dict[str, Any]:  # fmt: skip
    answer = credit_of(services, account, regulator=True)
    public, supervisory = recomputed(services, reader, account, int(time.time()))
    return {**answer, "recomputed_score": public, "recomputed_supervisory_score": supervisory}


@router.get("/participants/{account}/credit", response_class=HTMLResponse, include_in_schema=False)
def credit_page(request: Request, account: AccountPath, services: ServicesDep, lang: Lang = "zh") -> HTMLResponse:
    return page(request, "credit.html", title=LABELS[lang]["credit_title"], c=credit_of(services, account,
                                                                                          regulator=False))  # fmt: skip
