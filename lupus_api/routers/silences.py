"""Silences: alerts matching them are recorded but not posted until they end (see docs/alerts.md)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field

from lupus_api.auth import DatasourceAccess, datasource_access
from lupus_api.problems import Problem, ProblemError
from lupus_api.state import ApiState, api_state
from lupus_store.incidents import IncidentStore, SilenceView
from lupus_store.incidents.silences import MAX_SILENCE

router = APIRouter(prefix="/datasources/{ds}/silences", tags=["silences"])
ERRORS = {401: {"model": Problem}, 403: {"model": Problem}, 404: {"model": Problem}, 422: {"model": Problem}}


class SilenceCreate(BaseModel):
    """Matchers and a time window. Give ``ends_at`` or ``duration_hours``."""

    model_config = ConfigDict(extra="forbid")

    product: str | None = Field(default=None, max_length=63, description="Only this product (default: any).")
    metric: str = Field(
        default="*",
        max_length=200,
        description="Glob on the metric; `check:<name>`, `freshness`, `no_data` for others.",
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Label key -> glob; every key must match.")
    starts_at: datetime | None = Field(default=None, description="Default: now.")
    ends_at: datetime | None = None
    duration_hours: float | None = Field(default=None, gt=0, le=MAX_SILENCE.total_seconds() / 3600)
    reason: str = Field(min_length=1, max_length=2000)
    author: str | None = Field(default=None, max_length=200, description="Default: the token's name.")


class SilenceOut(BaseModel):
    id: int
    datasource: str
    product: str | None
    metric: str
    labels: dict[str, str]
    starts_at: str
    ends_at: str
    author: str
    reason: str
    created_at: str | None
    active: bool


class SilenceList(BaseModel):
    silences: list[SilenceOut]


def _out(view: SilenceView) -> SilenceOut:
    return SilenceOut.model_validate(view.to_json())


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SilenceOut, responses=ERRORS,
             summary="Silence matching alerts for a while")  # fmt: skip
def create_silence(
    body: SilenceCreate,
    access: Annotated[DatasourceAccess, Depends(datasource_access("write"))],
    state: Annotated[ApiState, Depends(api_state)],
) -> SilenceOut:
    if (body.ends_at is None) == (body.duration_hours is None):
        raise ProblemError(422, "give exactly one of ends_at and duration_hours", field="ends_at")
    duration = timedelta(hours=body.duration_hours) if body.duration_hours is not None else None
    view = IncidentStore(state.db, upgrade=False).add_silence(
        datasource=access.datasource.name, product=body.product, metric=body.metric, labels=body.labels,
        starts_at=body.starts_at, ends_at=body.ends_at, duration=duration, reason=body.reason,
        author=body.author or f"token:{access.principal.name}",
    )  # fmt: skip
    return _out(view)


@router.get("", response_model=SilenceList, responses=ERRORS, summary="Silences of the datasource, newest first")
def list_silences(
    access: Annotated[DatasourceAccess, Depends(datasource_access("read"))],
    state: Annotated[ApiState, Depends(api_state)],
    active: Annotated[bool, Query(description="Only the silences in force now.")] = False,
) -> SilenceList:
    store = IncidentStore(state.db, upgrade=False)
    found = store.silences(
        datasources=[access.datasource.name], active_at=datetime.now().astimezone() if active else None
    )
    return SilenceList(silences=[_out(view) for view in found])


@router.delete("/{silence_id}", response_model=SilenceOut, responses=ERRORS,
               summary="End a silence now (it is kept, with its new end)")  # fmt: skip
def expire_silence(
    silence_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    access: Annotated[DatasourceAccess, Depends(datasource_access("write"))],
    state: Annotated[ApiState, Depends(api_state)],
) -> SilenceOut:
    store = IncidentStore(state.db, upgrade=False)
    view = store.silence(silence_id)
    if view is None or view.datasource != access.datasource.name:
        raise ProblemError(404, f"no silence {silence_id} in datasource {access.datasource.name!r}", field="silence_id")
    return _out(store.expire_silence(silence_id))
