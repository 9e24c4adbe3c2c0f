"""Anomaly detection on request: a Dagster run (or a run in the API's worker) and its status."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, status
from fastapi.concurrency import run_in_threadpool

from lupus_api.auth import DatasourceAccess, datasource_access
from lupus_api.detections import DagsterUnavailableError
from lupus_api.models import DetectionCreate, DetectionOut
from lupus_api.problems import Problem, ProblemError
from lupus_api.state import ApiState, api_state
from lupus_metrics.errors import LupusValidationError
from lupus_store.metadata.models import DetectionRequest

router = APIRouter(prefix="/datasources/{ds}/detections", tags=["detections"])


def _out(row: DetectionRequest, request: Request) -> DetectionOut:
    return DetectionOut(
        id=row.id,
        datasource=row.datasource,
        backend=row.backend,
        status=row.status,
        created_at=row.created_at,
        finished_at=row.finished_at,
        result=row.result,
        error=row.error,
        status_url=str(request.url_for("detection_status", ds=row.datasource, request_id=row.id).path),
    )


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DetectionOut,
    responses={401: {"model": Problem}, 403: {"model": Problem}, 422: {"model": Problem}, 503: {"model": Problem}},
    summary="Request anomaly detection over a range (launches a Dagster run)",
)
async def request_detection(
    body: DetectionCreate,
    request: Request,
    access: Annotated[DatasourceAccess, Depends(datasource_access("write"))],
    state: Annotated[ApiState, Depends(api_state)],
) -> DetectionOut:
    if body.end < body.start:
        raise ProblemError(422, "end must not be before start", field="end")
    from lupus_metrics.detectors.registry import rules_from_config  # heavy: loaded on the first request only

    try:
        rules = rules_from_config(body.rules)
    except LupusValidationError as err:
        raise ProblemError(422, str(err), field=err.where.replace("detect[", "rules[", 1)) from None
    payload = {
        "start": body.start.isoformat(),
        "end": body.end.isoformat(),
        "rules": [rule.model_dump(mode="json") for rule in rules],
        "lookback_days": body.lookback_days,
    }
    try:
        row = await run_in_threadpool(
            state.detections.submit, access.datasource.name, payload, access.principal.token_id
        )
    except DagsterUnavailableError as err:
        raise ProblemError(503, str(err), headers={"Retry-After": "10"}) from None
    return _out(row, request)


@router.get(
    "/{request_id}",
    response_model=DetectionOut,
    name="detection_status",
    responses={401: {"model": Problem}, 403: {"model": Problem}, 404: {"model": Problem}},
    summary="Status of a detection request (Dagster run status, or the local run's)",
)
async def detection_status(
    request_id: Annotated[str, Path(max_length=64)],
    request: Request,
    access: Annotated[DatasourceAccess, Depends(datasource_access("any"))],
    state: Annotated[ApiState, Depends(api_state)],
) -> DetectionOut:
    try:
        row = await run_in_threadpool(state.detections.get, access.datasource.name, request_id)
    except DagsterUnavailableError as err:
        raise ProblemError(503, str(err), headers={"Retry-After": "10"}) from None
    if row is None:
        raise ProblemError(
            404, f"no detection request {request_id!r} in datasource {access.datasource.name!r}", field="request_id"
        )
    return _out(row, request)
