"""Request media types: a JSON operation answers 415 to a body of any other ``Content-Type``.

FastAPI decodes a body as JSON only for JSON media types and hands anything else to the
validator as bytes (a 422 about a "dictionary"); the push endpoint read any body as JSON. Both
hid the client's real mistake (``curl -d`` sends a form). This ASGI middleware looks up the
operation of each request with a body and compares its ``Content-Type`` with the media types the
operation documents, before the body is read:

- an operation whose OpenAPI ``requestBody`` has ``application/json`` as its only media type
  (every FastAPI body parameter, and the JSON push) takes ``application/json``, optionally with
  ``charset=utf-8``;
- operations documenting other media types (the Arrow/Parquet upload) check them themselves.

It covers every router of the app, including those added later, because it reads the app's
OpenAPI document: what is documented is what is enforced.

Example:
    >>> parse_media_type("Application/JSON; charset=UTF-8")
    ('application/json', {'charset': 'utf-8'})
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from lupus_api.problems import Problem, problem_response
from lupus_metrics.errors import quote

JSON = "application/json"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def parse_media_type(header: str) -> tuple[str, dict[str, str]]:
    """A ``Content-Type`` header as (lower-case media type, lower-case parameters)."""
    media, *params = header.split(";")
    parsed = {}
    for param in params:
        name, _, value = param.partition("=")
        parsed[name.strip().lower()] = value.strip().strip('"').lower()
    return media.strip().lower(), parsed


def json_operations(openapi: dict[str, Any]) -> list[tuple[str, re.Pattern[str]]]:
    """(method, path pattern) of every operation whose request body is documented as JSON only.

    >>> doc = {"paths": {"/ds/{ds}": {"post": {"requestBody": {"content": {"application/json": {}}}}}}}
    >>> [(m, p.pattern) for m, p in json_operations(doc)]
    [('POST', '/ds/[^/]+')]
    """
    found = []
    for path, operations in openapi.get("paths", {}).items():
        pattern = re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)))
        for method, operation in operations.items():
            content = (operation.get("requestBody") or {}).get("content") or {}
            if set(content) == {JSON}:
                found.append((method.upper(), pattern))
    return found


class JsonMediaType:
    """415 for a request body whose ``Content-Type`` is not ``application/json`` on a JSON operation."""

    def __init__(self, app: ASGIApp, openapi: Callable[[], dict[str, Any]]):
        self.app = app
        self.openapi = openapi  # read at the first request: every router is included by then
        self._operations: list[tuple[str, re.Pattern[str]]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in _BODY_METHODS
            and _has_body(scope)
            and self._takes_json(scope)
        ):
            header = _header(scope, b"content-type")
            media, params = parse_media_type(header or "")
            if media != JSON or params.get("charset", "utf-8") != "utf-8":
                detail = (f"Content-Type {quote(header)} is not accepted here: send the body as JSON with "
                          f"'Content-Type: application/json'" if header else
                          "missing Content-Type: send the body as JSON with 'Content-Type: application/json'")  # fmt: skip
                problem = Problem(status=415, title="Unsupported Media Type", detail=detail[:400],
                                  where={"field": "Content-Type"})  # fmt: skip
                await problem_response(problem)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _takes_json(self, scope: Scope) -> bool:
        if self._operations is None:
            self._operations = json_operations(self.openapi())
        path = scope.get("path", "")
        return any(method == scope["method"] and pattern.fullmatch(path) for method, pattern in self._operations)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or []:
        if key == name:
            return value.decode("latin-1")
    return None


def _has_body(scope: Scope) -> bool:
    length = _header(scope, b"content-length")
    if length is not None:
        return length.strip() != "0"
    return _header(scope, b"transfer-encoding") is not None
