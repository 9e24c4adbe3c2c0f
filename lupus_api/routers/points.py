"""Pushing points: a JSON batch, or an Arrow/Parquet upload for large batches; batch status."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from lupus_api.auth import DatasourceAccess, datasource_access
from lupus_api.ingest import IdempotencyConflictError, payload_digest
from lupus_api.models import BatchAccepted, BatchStatus
from lupus_api.payloads import MEDIA_TYPES, BodyError, decode_json_points, parse_batch, point_batch_schema
from lupus_api.problems import Problem, ProblemError, from_validation_error
from lupus_api.staged import STAGED_FORMAT, encode_staged
from lupus_api.state import ApiState, api_state
from lupus_metrics.errors import LupusValidationError
from lupus_metrics.frames import NormalizedPoints

router = APIRouter(prefix="/datasources/{ds}", tags=["points"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Any unique string per batch (e.g. a UUID). A re-send with the same key returns the "
        "original batch id and stores nothing twice.",
    ),
]
ERRORS = {
    400: {"model": Problem, "description": "Body is not a readable document (not UTF-8, not JSON, nested too deeply)"},
    401: {"model": Problem, "description": "Missing, unknown, revoked or expired token"},
    403: {"model": Problem, "description": "Token may not write this datasource"},
    409: {"model": Problem, "description": "Idempotency key reused with a different payload"},
    413: {"model": Problem, "description": "Body or batch too large"},
    415: {"model": Problem, "description": "Content-Type other than the documented ones"},
    422: {"model": Problem, "description": "Invalid points (field and row named) or too many series"},
    429: {"model": Problem, "description": "Rate limit of the token exceeded"},
}


def _invalid(err: LupusValidationError) -> ProblemError:
    return ProblemError(422, str(err), field=from_validation_error(err, prefix="points").where.field, row=err.row)


def _unreadable(err: BodyError) -> ProblemError:
    return ProblemError(400, str(err), field="body")


def _accept(
    state: ApiState,
    access: DatasourceAccess,
    normalize: Callable[[], NormalizedPoints],
    count: int,
    body: bytes,
    key: str | None,
    request: Request,
) -> BatchAccepted:
    ds = access.datasource.name
    if count > state.settings.max_points:
        raise ProblemError(413, f"{count} points in one batch; at most {state.settings.max_points}", field="points")
    try:
        normalized = normalize()
    except LupusValidationError as err:
        raise _invalid(err) from None
    digest = payload_digest(body)
    try:
        # New series count against the limit only if the batch is accepted: they are recorded in
        # the transaction that records the batch (a 409 or a failed staging records none).
        with state.series.admission(ds, normalized) as new_series:
            # The validated points are staged, not the body: the worker then need not parse it again.
            # No look-up of the idempotency key first: re-sends are rare, and stage() answers one when
            # the key's unique constraint refuses the new row (a database round trip less per push).
            staged = state.ingestor.stage(ds, encode_staged(normalized), STAGED_FORMAT, points=count,
                                          idempotency_key=key, payload_sha256=digest,
                                          token_id=access.principal.token_id, new_series=new_series)  # fmt: skip
    except IdempotencyConflictError as err:
        raise ProblemError(
            409,
            f"Idempotency-Key {key!r} was used for batch {err.batch_id} with a different payload",
            field="Idempotency-Key",
        ) from None
    return BatchAccepted(
        batch_id=staged.batch_id,
        points=staged.points,
        status=staged.status,
        duplicate=staged.duplicate,
        status_url=str(request.url_for("batch_status", ds=ds, batch_id=staged.batch_id).path),
    )


@router.post(
    "/points",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BatchAccepted,
    responses=ERRORS,
    summary="Push a JSON batch of points (staged durably, then ingested)",
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": point_batch_schema()}}}
    },
)
async def push_points(
    request: Request,
    # The token and the datasource are checked (a dependency) before the body is read: an unknown
    # caller never makes the server hold a batch of up to LUPUS_API_MAX_BODY_BYTES.
    access: Annotated[DatasourceAccess, Depends(datasource_access("write"))],
    state: Annotated[ApiState, Depends(api_state)],
    idempotency_key: IdempotencyKey = None,
) -> BatchAccepted:
    body = await request.body()  # the Content-Type was checked before (lupus_api.media: 415)
    ds = access.datasource.name

    def parse_and_accept() -> BatchAccepted:
        # The body is validated here rather than by a FastAPI body parameter: FastAPI would decode
        # it with the json module and then validate the Python objects, twice pydantic's cost.
        try:
            points = decode_json_points(body)
        except BodyError as err:
            raise _unreadable(err) from None
        except ValidationError as err:
            if any(e.get("type") == "json_invalid" for e in err.errors()):
                raise ProblemError(400, f"body is not valid JSON: {err.errors()[0].get('msg')}"[:400],
                                   field="body") from None  # fmt: skip
            raise RequestValidationError(err.errors(include_url=False, include_context=False)) from None
        except LupusValidationError as err:
            raise _invalid(err) from None

        def normalize() -> NormalizedPoints:
            return NormalizedPoints.from_columns(
                ds,
                points.metrics,
                points.labels,
                ts=points.ts,
                values=points.values,
                rows=points.rows,
                n=points.n,
                stderr=points.stderr,
            )

        return _accept(state, access, normalize, len(points.ts), body, idempotency_key, request)

    return await run_in_threadpool(parse_and_accept)


@router.post(
    "/points/upload",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=BatchAccepted,
    responses=ERRORS,
    summary="Push a large batch as an Arrow IPC stream/file or a Parquet file (raw body)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {media: {"schema": {"type": "string", "format": "binary"}} for media in MEDIA_TYPES},
        }
    },
)
async def upload_points(
    request: Request,
    access: Annotated[DatasourceAccess, Depends(datasource_access("write"))],
    state: Annotated[ApiState, Depends(api_state)],
    idempotency_key: IdempotencyKey = None,
    format: Annotated[
        str | None, Query(pattern="^(arrow|parquet)$", description="Overrides the Content-Type: `arrow` or `parquet`.")
    ] = None,
) -> BatchAccepted:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = format or MEDIA_TYPES.get(media)
    if fmt is None:
        raise ProblemError(
            415, f"Content-Type {media or '(none)'!r} is not one of {', '.join(MEDIA_TYPES)}", field="Content-Type"
        )
    body = await request.body()

    def parse_and_accept() -> BatchAccepted:
        try:
            frame = parse_batch(body, fmt)
        except BodyError as err:
            raise _unreadable(err) from None
        except LupusValidationError as err:
            raise _invalid(err) from None
        return _accept(
            state,
            access,
            lambda: NormalizedPoints.from_frame(frame, access.datasource.name),
            len(frame),
            body,
            idempotency_key,
            request,
        )

    return await run_in_threadpool(parse_and_accept)


@router.get("/batches/{batch_id}", response_model=BatchStatus, name="batch_status", summary="Status of a pushed batch")
def batch_status(
    batch_id: Annotated[str, Path(max_length=64)],
    access: Annotated[DatasourceAccess, Depends(datasource_access("any"))],
    state: Annotated[ApiState, Depends(api_state)],
) -> BatchStatus:
    row = state.ingestor.status(access.datasource.name, batch_id)
    if row is None:
        raise ProblemError(404, f"no batch {batch_id!r} in datasource {access.datasource.name!r}", field="batch_id")
    return BatchStatus(
        batch_id=row.id,
        datasource=row.datasource,
        points=row.points,
        status=row.status,
        created_at=row.created_at,
        ingested_at=row.ingested_at,
        error=row.error,
    )
