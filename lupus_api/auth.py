"""Bearer-token authentication and per-datasource authorisation, as FastAPI dependencies.

A token has scopes (``read``, ``write``, ``admin``; ``admin`` implies the other two) and a
binding: one datasource, one team (every datasource the team owns, or may access through a
``DatasourcePermission``), or nothing (an installation-wide admin token). What a token may
do on a datasource is its scopes intersected with its binding's access level there.

Handlers never check tokens themselves: they declare ``Depends(current_token)`` or
``Depends(datasource_access("write"))``.

Example:
    >>> sorted(allowed_operations({"write"}, "admin"))
    ['write']
    >>> sorted(allowed_operations({"admin"}, "read"))
    ['read']
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from lupus_api.problems import ProblemError
from lupus_api.state import ApiState, api_state
from lupus_store.metadata import ApiToken, Datasource, DatasourcePermission
from lupus_store.metadata.secrets import hash_token

LEVEL_OPERATIONS = {"read": {"read"}, "write": {"read", "write"}, "admin": {"read", "write", "admin"}}
# last_used_at is informational: write it at most this often, not on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)

bearer = HTTPBearer(
    auto_error=False, description="An API token from `lupus token create` or `POST /api/v1/admin/tokens`."
)


@dataclass(frozen=True)
class Principal:
    """The caller, as its token describes it."""

    token_id: int
    name: str
    scopes: frozenset[str]
    team_id: int | None
    datasource_id: int | None

    @property
    def operations(self) -> set[str]:
        """Operations the scopes allow anywhere (``admin`` implies ``read`` and ``write``)."""
        ops: set[str] = set()
        for scope in self.scopes:
            ops |= LEVEL_OPERATIONS.get(scope, set()) if scope == "admin" else {scope}
        return ops

    @property
    def global_admin(self) -> bool:
        return self.team_id is None and self.datasource_id is None and "admin" in self.scopes


@dataclass(frozen=True)
class DatasourceAccess:
    """A datasource the caller may act on, and what it may do there."""

    principal: Principal
    datasource: Datasource
    operations: frozenset[str]


def allowed_operations(scopes: set[str] | frozenset[str], level: str | None) -> set[str]:
    """Operations a token with ``scopes`` may perform where its binding grants ``level``."""
    if level is None:
        return set()
    granted = LEVEL_OPERATIONS[level]
    ops: set[str] = set()
    for scope in scopes:
        ops |= LEVEL_OPERATIONS["admin"] if scope == "admin" else {scope}
    return ops & granted


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, detail, field="Authorization", headers={"WWW-Authenticate": "Bearer"})


def current_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    state: Annotated[ApiState, Depends(api_state)],
) -> Principal:
    """The caller's live token, or 401 (missing, unknown, revoked, expired) / 429 (rate limit)."""
    with state.db.session() as session:
        return _authenticate(session, request, credentials, state)


def _authenticate(
    session: Session, request: Request, credentials: HTTPAuthorizationCredentials | None, state: ApiState
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise _unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    now = datetime.now(UTC)
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(credentials.credentials)))
    if row is None:
        raise _unauthorized("unknown token")
    if row.revoked_at is not None:
        raise _unauthorized(f"token {row.token_prefix}… was revoked")
    if row.expires_at is not None and _aware(row.expires_at) <= now:
        raise _unauthorized(f"token {row.token_prefix}… expired at {_aware(row.expires_at).isoformat()}")
    if row.last_used_at is None or _aware(row.last_used_at) < now - LAST_USED_RESOLUTION:
        row.last_used_at = now
    principal = Principal(row.id, row.name, row.scope_set, row.team_id, row.datasource_id)
    wait = state.rate_limiter.take(principal.token_id)
    if wait > 0:
        raise ProblemError(
            429,
            f"rate limit of {state.settings.rate:g} requests/s per token exceeded",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    request.state.principal = principal
    return principal


def binding_level(session, principal: Principal, datasource: Datasource) -> str | None:
    """The access level the token's binding has on ``datasource`` (None: no access)."""
    if principal.team_id is None and principal.datasource_id is None:
        return "admin" if "admin" in principal.scopes else None
    if principal.datasource_id is not None:
        return "admin" if principal.datasource_id == datasource.id else None
    if datasource.owner_team_id == principal.team_id:
        return "admin"
    return session.scalar(
        select(DatasourcePermission.level).where(
            DatasourcePermission.datasource_id == datasource.id, DatasourcePermission.team_id == principal.team_id
        )
    )


def datasource_access(operation: str):
    """A dependency: the ``{ds}`` path datasource, if the caller may perform ``operation`` on it.

    ``operation`` is ``read``, ``write``, ``admin`` or ``any`` (at least one of them).
    """

    def dependency(
        ds: Annotated[str, Path(description="Datasource name, e.g. `service1-recommend`.", max_length=63)],
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        state: Annotated[ApiState, Depends(api_state)],
    ) -> DatasourceAccess:
        return authorize_datasource(state, request, credentials, ds, operation)

    return dependency


def authorize_datasource(
    state: ApiState, request: Request, credentials: HTTPAuthorizationCredentials | None, ds: str, operation: str
) -> DatasourceAccess:
    """What :func:`datasource_access` checks, callable from a route's own worker thread (blocking I/O)."""
    # Token and datasource in one session: this runs on every push.
    with state.db.session() as session:
        principal = _authenticate(session, request, credentials, state)
        row = session.scalar(select(Datasource).where(Datasource.name == ds))
        if row is None:
            if principal.global_admin:
                raise ProblemError(404, f"no datasource named {ds!r}", field="ds")
            # Tokens bound elsewhere learn nothing about which names exist.
            raise ProblemError(403, f"token has no access to datasource {ds!r}", field="ds")
        ops = allowed_operations(principal.scopes, binding_level(session, principal, row))
        session.expunge(row)
    if not ops:
        raise ProblemError(403, f"token has no access to datasource {ds!r}", field="ds")
    if operation != "any" and operation not in ops:
        raise ProblemError(
            403, f"token may {'/'.join(sorted(ops))} datasource {ds!r}, not {operation}", field="Authorization"
        )
    return DatasourceAccess(principal, row, frozenset(ops))


def require_admin(principal: Annotated[Principal, Depends(current_token)]) -> Principal:
    """A dependency: the caller's token has the ``admin`` scope (403 otherwise)."""
    if "admin" not in principal.scopes:
        raise ProblemError(403, "this endpoint needs a token with the admin scope", field="Authorization")
    return principal


def _aware(moment: datetime) -> datetime:
    # SQLite returns naive datetimes even for timezone-aware columns; they were written in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
