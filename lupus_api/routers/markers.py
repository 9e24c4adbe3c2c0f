"""Markers: events of a datasource (a model release, a deploy) that the app draws on its charts (docs/api.md)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, ConfigDict, Field

from lupus_api.auth import DatasourceAccess, datasource_access
from lupus_api.problems import Problem
from lupus_api.state import ApiState, api_state
from lupus_store.incidents.markers import KINDS, MarkerView, add_marker, list_markers

router = APIRouter(prefix="/datasources/{ds}/markers", tags=["markers"])
ERRORS = {401: {"model": Problem}, 403: {"model": Problem}, 404: {"model": Problem}, 422: {"model": Problem}}


class MarkerCreate(BaseModel):
    """What happened and when."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=200, description="e.g. `ranker v2`.")
    ts: datetime | None = Field(default=None, description="When it happened (default: now; a naive time is UTC).")
    kind: str = Field(default="release", pattern="^(" + "|".join(KINDS) + ")$", description=", ".join(KINDS))
    note: str | None = Field(default=None, max_length=2000)
    author: str | None = Field(default=None, max_length=200, description="Default: the token's name.")


class MarkerOut(BaseModel):
    id: int
    datasource: str
    ts: str
    kind: str
    label: str
    note: str | None
    author: str
    created_at: str | None


class MarkerList(BaseModel):
    markers: list[MarkerOut]


def _out(marker: MarkerView) -> MarkerOut:
    return MarkerOut.model_validate(marker.to_json())


@router.post("", status_code=status.HTTP_201_CREATED, response_model=MarkerOut, responses=ERRORS,
             summary="Mark an event (e.g. a model release) on the datasource's charts")  # fmt: skip
def create_marker(
    body: MarkerCreate,
    access: Annotated[DatasourceAccess, Depends(datasource_access("write"))],
    state: Annotated[ApiState, Depends(api_state)],
) -> MarkerOut:
    marker = add_marker(
        state.db, datasource=access.datasource.name, label=body.label, ts=body.ts, kind=body.kind, note=body.note,
        author=body.author or f"token:{access.principal.name}",
    )  # fmt: skip
    return _out(marker)


@router.get("", response_model=MarkerList, responses=ERRORS, summary="Markers of the datasource, oldest first")
def get_markers(
    access: Annotated[DatasourceAccess, Depends(datasource_access("read"))],
    state: Annotated[ApiState, Depends(api_state)],
    start: Annotated[date | None, Query(description="First day (UTC), inclusive.")] = None,
    end: Annotated[date | None, Query(description="Last day (UTC), inclusive.")] = None,
) -> MarkerList:
    return MarkerList(markers=[_out(m) for m in list_markers(state.db, access.datasource.name, start=start, end=end)])
