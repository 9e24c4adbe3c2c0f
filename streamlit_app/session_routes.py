"""The app's HTTP route for its sign-in cookie, served next to Streamlit's own (see ``streamlit_app/server.py``).

``POST <app>/_lupus/session`` with ``{"code": "<handoff code>"}`` spends the one-time code of a sign-in
(:func:`streamlit_app.sessions.redeem`) and answers 204 with the session cookie: ``HttpOnly`` (page
scripts cannot read it), ``SameSite=Lax`` (sent when a chat link opens the app, not on cross-site
posts), ``Secure`` over HTTPS (or with ``LUPUS_UI_COOKIE_SECURE=1`` behind a proxy that ends TLS), and
``Max-Age`` = the session's remaining lifetime. ``DELETE`` revokes the session of the cookie it
receives and deletes the cookie. Both refuse requests whose ``Origin`` is another site.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from functools import cache

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lupus_store.metadata import MetadataDB
from streamlit_app import sessions

PATH = "_lupus/session"


@cache
def _db() -> MetadataDB:
    return MetadataDB()  # LUPUS_METADATA_URL / LUPUS_HOME, as the pages; the app migrates it on start


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"title": "session", "status": status, "detail": detail}, status_code=status,
                        media_type="application/problem+json", headers={"Cache-Control": "no-store"})  # fmt: skip


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"


def _cookie_path(request: Request) -> str:
    # The route sits at <base>/_lupus/session; the cookie covers <base>/ (the whole app).
    return request.url.path[: -len(PATH)] or "/"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or os.environ.get("LUPUS_UI_COOKIE_SECURE", "").lower() in ("1", "true")


async def session_endpoint(request: Request) -> Response:
    """POST: exchange a handoff code for the session cookie. DELETE: sign out the cookie's session."""
    if not _same_origin(request):
        return _problem(403, "cross-site request refused")
    if request.method == "DELETE":
        await run_in_threadpool(sessions.revoke, _db(), token=request.cookies.get(sessions.COOKIE_NAME))
        response = Response(status_code=204, headers={"Cache-Control": "no-store"})
        response.delete_cookie(sessions.COOKIE_NAME, path=_cookie_path(request), httponly=True, samesite="lax")
        return response
    try:
        code = json.loads(await request.body() or b"{}").get("code")
    except (ValueError, AttributeError):
        return _problem(400, 'the body must be JSON: {"code": "<handoff code>"}')
    if not isinstance(code, str) or not code:
        return _problem(400, 'the body must be JSON: {"code": "<handoff code>"}')
    issued = await run_in_threadpool(sessions.redeem, _db(), code)
    if issued is None:
        return _problem(403, "unknown, spent or expired sign-in code")
    response = Response(status_code=204, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        sessions.COOKIE_NAME,
        issued.token,
        max_age=max(1, int((issued.expires_at - datetime.now(UTC)).total_seconds())),
        path=_cookie_path(request),
        secure=_secure(request),
        httponly=True,
        samesite="lax",
    )
    return response


def routes() -> list[Route]:
    """The route at the root and under a ``server.baseUrlPath`` prefix (Streamlit leaves user routes unprefixed)."""
    methods = ["POST", "DELETE"]
    return [
        Route(f"/{PATH}", session_endpoint, methods=methods),
        Route("/{base:path}/" + PATH, session_endpoint, methods=methods),
    ]
