"""Reading points, series and anomalies, with metric, label and time filters, page by page.

Pages are offsets into the store's stable order (metric, series, ts); the cursor is opaque.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool

from lupus_api.auth import DatasourceAccess, datasource_access
from lupus_api.models import AnomaliesPage, PointsPage, SeriesPage
from lupus_api.problems import Problem, ProblemError
from lupus_api.state import ApiState, api_state
from lupus_metrics.errors import LupusValidationError

router = APIRouter(prefix="/datasources/{ds}", tags=["queries"])
ERRORS = {401: {"model": Problem}, 403: {"model": Problem}, 422: {"model": Problem}}

Metrics = Annotated[list[str] | None, Query(alias="metric", description="Metric name; repeat for several.")]
Labels = Annotated[list[str] | None, Query(alias="label", description="`key:value` label filter; repeat for several.")]
Start = Annotated[str | None, Query(description="Inclusive start: `YYYY-MM-DD` or ISO timestamp.", max_length=40)]
End = Annotated[str | None, Query(description="Inclusive end; a date includes that whole day.", max_length=40)]
Limit = Annotated[int, Query(ge=1, le=10_000, description="Page size.")]
Cursor = Annotated[str | None, Query(description="`next_cursor` of the previous page.", max_length=20)]


def _labels(values: list[str] | None) -> dict[str, str] | None:
    if not values:
        return None
    labels = {}
    for value in values:
        key, sep, item = value.partition(":")
        if not sep:
            raise ProblemError(422, f"label filter {value!r} must be key:value", field="label")
        labels[key] = item
    return labels


def _time(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        stamp = pd.NaT
    if pd.isna(stamp) or not 1900 <= stamp.year <= 2999:
        raise ProblemError(422, f"{field} must be a date (YYYY-MM-DD) or an ISO timestamp; got {value!r}", field=field)
    return value


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not cursor.isdigit():
        raise ProblemError(422, "cursor must be the next_cursor of a previous page", field="cursor")
    return int(cursor)


def _page(frame: pd.DataFrame, offset: int, limit: int) -> tuple[list[dict[str, Any]], str | None]:
    chunk = frame.iloc[offset : offset + limit]
    records = chunk.to_dict("records")
    for record in records:
        for key, value in record.items():
            if isinstance(value, float) and math.isnan(value):
                record[key] = None  # missing values are JSON null
            elif value is pd.NaT:
                record[key] = None
    more = offset + limit < len(frame)
    return records, (str(offset + limit) if more else None)


def _read(call, *args, **kwargs) -> pd.DataFrame:
    try:
        return call(*args, **kwargs)
    except LupusValidationError as err:
        raise ProblemError(422, str(err), field=err.where) from None


@router.get("/points", response_model=PointsPage, responses=ERRORS, summary="Query points")
async def query_points(
    access: Annotated[DatasourceAccess, Depends(datasource_access("read"))],
    state: Annotated[ApiState, Depends(api_state)],
    metric: Metrics = None,
    label: Labels = None,
    start: Start = None,
    end: End = None,
    limit: Limit = 1000,
    cursor: Cursor = None,
) -> PointsPage:
    filters = {"metrics": metric, "labels": _labels(label), "start": _time(start, "start"), "end": _time(end, "end")}
    offset = _offset(cursor)
    frame = await run_in_threadpool(_read, state.store.read_points, access.datasource.name, **filters)
    records, next_cursor = _page(frame, offset, limit)
    return PointsPage(points=records, next_cursor=next_cursor)


@router.get("/series", response_model=SeriesPage, responses=ERRORS, summary="List series")
async def query_series(
    access: Annotated[DatasourceAccess, Depends(datasource_access("read"))],
    state: Annotated[ApiState, Depends(api_state)],
    metric: Metrics = None,
    label: Labels = None,
    limit: Limit = 1000,
    cursor: Cursor = None,
) -> SeriesPage:
    labels, offset = _labels(label), _offset(cursor)
    frame = await run_in_threadpool(_read, state.store.list_series, access.datasource.name)
    if metric:
        frame = frame[frame["metric"].isin(metric)]
    if labels:
        frame = frame[[all(row.get(k) == v for k, v in labels.items()) for row in frame["labels"]]]
    records, next_cursor = _page(frame, offset, limit)
    return SeriesPage(series=records, next_cursor=next_cursor)


@router.get("/anomalies", response_model=AnomaliesPage, responses=ERRORS, summary="Query anomalies")
async def query_anomalies(
    access: Annotated[DatasourceAccess, Depends(datasource_access("read"))],
    state: Annotated[ApiState, Depends(api_state)],
    metric: Metrics = None,
    label: Labels = None,
    start: Start = None,
    end: End = None,
    only_anomalies: Annotated[bool, Query(description="False: every evaluated point, with its band.")] = True,
    limit: Limit = 1000,
    cursor: Cursor = None,
) -> AnomaliesPage:
    filters = {"metrics": metric, "labels": _labels(label), "start": _time(start, "start"), "end": _time(end, "end")}
    offset = _offset(cursor)
    frame = await run_in_threadpool(
        _read, state.store.read_anomalies, access.datasource.name, only_anomalies=only_anomalies, **filters
    )
    records, next_cursor = _page(frame, offset, limit)
    for record in records:
        params = record.get("params")
        if isinstance(params, str):
            import json

            record["params"] = json.loads(params)
    return AnomaliesPage(anomalies=records, next_cursor=next_cursor)
