"""Feedback on incidents: acknowledge with a verdict, resolve by hand, and each rule's measured precision.

Verdicts: ``real`` (a real problem), ``false_alarm``, ``expected`` (a planned change). A rule's
precision is ``real / judged`` over the incidents it had an alert in.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from lupus_api.auth import DatasourceAccess, datasource_access
from lupus_api.problems import Problem
from lupus_api.routers.incidents import IncidentOut, incident_of, incident_out
from lupus_api.state import ApiState, api_state
from lupus_store.incidents import IncidentStore

router = APIRouter(prefix="/datasources/{ds}", tags=["feedback"])
ERRORS = {401: {"model": Problem}, 403: {"model": Problem}, 404: {"model": Problem}, 422: {"model": Problem}}


class Acknowledge(BaseModel):
    """Take an incident and say what it was."""

    model_config = ConfigDict(extra="forbid")

    verdict: Literal["real", "false_alarm", "expected"]
    note: str | None = Field(default=None, max_length=2000)
    by: str | None = Field(default=None, max_length=200, description="Who; default: the token's name.")


class Resolve(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=2000)
    by: str | None = Field(default=None, max_length=200, description="Who; default: the token's name.")


class RulePrecisionOut(BaseModel):
    product: str
    rule: str = Field(
        description="`detect[i]` (the spec's i-th detector rule), `check:<name>`, `no_data`, `freshness`."
    )
    incidents: int
    judged: int
    real: int
    false_alarm: int
    expected: int
    precision: float | None = Field(description="real / judged; null before anything was judged.")


class RuleList(BaseModel):
    rules: list[RulePrecisionOut]


@router.post("/incidents/{incident_id}/acknowledge", response_model=IncidentOut, responses=ERRORS,
             summary="Acknowledge an incident with a verdict (real, false_alarm, expected)")  # fmt: skip
def acknowledge(
    incident_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: Acknowledge,
    access: Annotated[DatasourceAccess, Depends(datasource_access("write"))],
    state: Annotated[ApiState, Depends(api_state)],
) -> IncidentOut:
    incident_of(state, access.datasource.name, incident_id)
    who = body.by or f"token:{access.principal.name}"
    view = IncidentStore(state.db, upgrade=False).acknowledge(incident_id, verdict=body.verdict, by=who, note=body.note)
    return incident_out(view)


@router.post("/incidents/{incident_id}/resolve", response_model=IncidentOut, responses=ERRORS,
             summary="Resolve an incident by hand")  # fmt: skip
def resolve(
    incident_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: Resolve,
    access: Annotated[DatasourceAccess, Depends(datasource_access("write"))],
    state: Annotated[ApiState, Depends(api_state)],
) -> IncidentOut:
    incident_of(state, access.datasource.name, incident_id)
    who = body.by or f"token:{access.principal.name}"
    return incident_out(IncidentStore(state.db, upgrade=False).resolve(incident_id, by=who, note=body.note))


@router.get("/rules", response_model=RuleList, responses=ERRORS,
            summary="Each alerting rule's measured precision from the verdicts")  # fmt: skip
def rules(
    access: Annotated[DatasourceAccess, Depends(datasource_access("read"))],
    state: Annotated[ApiState, Depends(api_state)],
    product: Annotated[str | None, Query(max_length=63)] = None,
) -> RuleList:
    found = IncidentStore(state.db, upgrade=False).rule_precision(datasources=[access.datasource.name], product=product)
    return RuleList(rules=[RulePrecisionOut.model_validate(item.to_json()) for item in found])
