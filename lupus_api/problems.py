"""Errors as ``application/problem+json`` (RFC 9457): type, title, status, detail and where it went wrong.

Every error the API returns goes through here, so clients can rely on one shape:
``{"type": ..., "title": ..., "status": 422, "detail": ..., "where": {"field": "points[3].value", "row": 3}}``.

Example:
    >>> Problem(status=404, title="Not found", detail="no datasource named 'x'").model_dump(exclude_none=True)["type"]
    'about:blank'
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from lupus_metrics.errors import LupusValidationError

PROBLEM_JSON = "application/problem+json"


class Where(BaseModel):
    """Where the input was wrong: a field path (``points[3].labels``) and, for batches, the row."""

    field: str | None = None
    row: int | None = None


class Problem(BaseModel):
    """An error response body (RFC 9457 problem details plus ``where``)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    where: Where | None = None
    errors: list[dict[str, Any]] | None = Field(default=None, description="Every validation error, when several.")


class ProblemError(Exception):
    """Raise to answer with a problem body, e.g. ``ProblemError(403, "token is read-only")``."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        field: str | None = None,
        row: int | None = None,
        headers: dict[str, str] | None = None,
        title: str | None = None,
    ):
        super().__init__(detail)
        self.problem = Problem(
            status=status,
            title=title or HTTPStatus(status).phrase,
            detail=detail,
            where=Where(field=field, row=row) if field is not None or row is not None else None,
        )
        self.headers = headers


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON response for ``problem`` with the problem+json media type."""
    return JSONResponse(
        problem.model_dump(exclude_none=True), status_code=problem.status, media_type=PROBLEM_JSON, headers=headers
    )


def from_validation_error(err: LupusValidationError, *, prefix: str = "", status: int = 422) -> Problem:
    """A problem naming the column/field and row of a :class:`LupusValidationError`."""
    field = err.where if err.row is None else f"{prefix}[{err.row}].{err.where}" if prefix else err.where
    return Problem(
        status=status, title=HTTPStatus(status).phrase, detail=str(err), where=Where(field=field, row=err.row)
    )


def _location(loc: tuple[Any, ...] | list[Any]) -> tuple[str, int | None]:
    parts = [p for p in loc if p != "body"]
    text, row = "", None
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
            row = part if row is None else row
        else:
            text += f".{part}" if text else str(part)
    return text or "body", row


def install(app: FastAPI) -> None:
    """Register the exception handlers that turn every error into a problem body."""

    @app.exception_handler(ProblemError)
    async def _problem(_: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(exc.problem, exc.headers)

    @app.exception_handler(LupusValidationError)
    async def _lupus(_: Request, exc: LupusValidationError) -> JSONResponse:
        return problem_response(from_validation_error(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        unreadable = next((e for e in exc.errors() if e.get("type") == "json_invalid"), None)
        if unreadable is not None:
            # Not a JSON document at all: a 400, as for a body that is not UTF-8 or nested too deeply.
            message = str((unreadable.get("ctx") or {}).get("error") or unreadable.get("msg") or "invalid JSON")
            return problem_response(Problem(status=400, title="Bad Request", detail=f"body is not valid JSON: {message}"[:400],
                                            where=Where(field="body")))  # fmt: skip
        errors = []
        for error in exc.errors():
            field, row = _location(error.get("loc", ()))
            errors.append(
                {"field": field, "row": row, "message": str(error.get("msg", "invalid")).removeprefix("Value error, ")}
            )
        first = errors[0] if errors else {"field": "body", "row": None, "message": "invalid request"}
        problem = Problem(
            status=422,
            title="Unprocessable Content",
            detail=f"{first['field']}: {first['message']}",
            where=Where(field=first["field"], row=first["row"]),
            errors=errors[:50],
        )
        return problem_response(problem)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        problem = Problem(status=exc.status_code, title=HTTPStatus(exc.status_code).phrase, detail=str(exc.detail))
        cause = exc.__cause__
        if isinstance(cause, UnicodeDecodeError):  # FastAPI's "error parsing the body": say which
            problem.detail, problem.where = (
                f"body is not valid UTF-8: byte at position {cause.start}",
                Where(field="body"),
            )
        elif isinstance(cause, RecursionError):
            problem.detail, problem.where = "body is nested too deeply to read", Where(field="body")
        return problem_response(problem, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Never a stack trace in the response; the server log has it.
        problem = Problem(status=500, title="Internal Server Error", detail=type(exc).__name__)
        return problem_response(problem)
