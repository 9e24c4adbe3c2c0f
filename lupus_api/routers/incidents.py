"""Incidents: list and read them, per datasource or across every datasource the token may read.

An incident groups related alerts of one product that started on one day (see docs/alerts.md);
``top_slices`` names the labels that explain an aggregate's change, ``members`` its alerts
with their chart links. Acknowledging and resolving are in :mod:`lupus_api.routers.feedback`.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from lupus_api.auth import (
    DatasourceAccess,
    Principal,
    allowed_operations,
    binding_level,
    current_token,
    datasource_access,
)
from lupus_api.problems import Problem, ProblemError
from lupus_api.state import ApiState, api_state
from lupus_store.incidents import IncidentStore, IncidentView
from lupus_store.metadata import Datasource

router = APIRouter(tags=["incidents"])
ERRORS = {401: {"model": Problem}, 403: {"model": Problem}, 404: {"model": Problem}, 422: {"model": Problem}}
Status = Literal["active", "open", "acknowledged", "resolved"]


class MemberOut(BaseModel):
    """One alert of an incident."""

    id: int
    series_id: str
    day: date
    kind: Literal["anomaly", "check", "freshness", "no_data"]
    metric: str | None
    labels: dict[str, str]
    rule: str | None
    severity: float
    status: str = Field(description="pending, sent, silenced or acknowledged.")
    silence_id: int | None = None
    alert: dict[str, Any] = Field(description="value, expected, band, score, link, check detail, root cause.")


class IncidentOut(BaseModel):
    """One incident: what broke, since when, how badly, what explains it, who owns it."""

    id: int
    product: str
    datasource: str
    team: str | None
    start_day: date
    last_day: date
    status: Literal["open", "acknowledged", "resolved"]
    severity: Literal["critical", "warning"]
    score: float
    headline: str
    change: float | None = Field(description="The lead alert's relative change from expected (-0.71: 71 % below).")
    link: str | None = Field(description="Chart of the lead alert.")
    top_slices: list[dict[str, Any]] = Field(description="Labels explaining the change, best first, with `share`.")
    root_cause: list[dict[str, Any]]
    verdict: Literal["real", "false_alarm", "expected"] | None
    note: str | None
    acknowledged_by: str | None
    acknowledged_at: str | None
    resolved_by: str | None
    resolved_at: str | None
    clean_days: int = Field(description="Days every member has been back in its band.")
    created_at: str | None
    delivery: Literal["pending", "sent", "silenced"] = Field(description="State of the opening chat message.")
    member_count: int
    members: list[MemberOut] | None = None


class IncidentList(BaseModel):
    incidents: list[IncidentOut]


def incident_out(view: IncidentView, *, members: bool = True) -> IncidentOut:
    return IncidentOut.model_validate(view.to_json(members=members))


def readable_datasources(state: ApiState, principal: Principal) -> list[str]:
    """Names of the datasources ``principal`` may read."""
    with state.db.session() as session:
        rows = session.scalars(select(Datasource).order_by(Datasource.name)).all()
        return [row.name for row in rows if "read" in allowed_operations(principal.scopes,
                                                                         binding_level(session, principal, row))]  # fmt: skip


def incident_of(state: ApiState, datasource: str, incident_id: int) -> IncidentView:
    """The incident ``incident_id`` of ``datasource``, or 404 (also when it belongs to another datasource)."""
    view = IncidentStore(state.db, upgrade=False).incident(incident_id)
    if view is None or view.datasource != datasource:
        raise ProblemError(404, f"no incident {incident_id} in datasource {datasource!r}", field="incident_id")
    return view


@router.get("/incidents", response_model=IncidentList, responses=ERRORS,
            summary="Incidents of every datasource the token may read, active first")  # fmt: skip
def list_all_incidents(
    principal: Annotated[Principal, Depends(current_token)],
    state: Annotated[ApiState, Depends(api_state)],
    status: Annotated[Status | None, Query(description="`active` = open and acknowledged.")] = None,
    since: Annotated[date | None, Query(description="Incidents with an alert on or after this day.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> IncidentList:
    names = readable_datasources(state, principal)
    views = IncidentStore(state.db, upgrade=False).incidents(datasources=names, status=status, since=since, limit=limit)
    return IncidentList(incidents=[incident_out(v, members=False) for v in views])


@router.get("/datasources/{ds}/incidents", response_model=IncidentList, responses=ERRORS,
            summary="Incidents of one datasource, active first")  # fmt: skip
def list_incidents(
    access: Annotated[DatasourceAccess, Depends(datasource_access("read"))],
    state: Annotated[ApiState, Depends(api_state)],
    status: Annotated[Status | None, Query(description="`active` = open and acknowledged.")] = None,
    product: Annotated[str | None, Query(max_length=63)] = None,
    since: Annotated[date | None, Query(description="Incidents with an alert on or after this day.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> IncidentList:
    views = IncidentStore(state.db, upgrade=False).incidents(
        datasources=[access.datasource.name], product=product, status=status, since=since, limit=limit
    )
    return IncidentList(incidents=[incident_out(v, members=False) for v in views])


@router.get("/datasources/{ds}/incidents/{incident_id}", response_model=IncidentOut, responses=ERRORS,
            summary="One incident with its alerts")  # fmt: skip
def get_incident(
    incident_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    access: Annotated[DatasourceAccess, Depends(datasource_access("read"))],
    state: Annotated[ApiState, Depends(api_state)],
) -> IncidentOut:
    return incident_out(incident_of(state, access.datasource.name, incident_id))
