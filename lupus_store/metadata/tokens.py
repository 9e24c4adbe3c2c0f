"""Issuing, verifying and revoking API tokens (the clear token is shown once, never stored).

Example:
    >>> import tempfile
    >>> from lupus_store.metadata import MetadataDB, Team
    >>> db = MetadataDB(f"sqlite:///{tempfile.mkdtemp()}/meta.db"); db.upgrade()
    >>> with db.session() as s:
    ...     s.add(Team(name="recsys"))
    >>> issued = issue_token(db, name="nightly job", scopes=["write"], team="recsys")
    >>> verify_token(db, issued.token).name
    'nightly job'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from lupus_metrics.errors import LupusValidationError
from lupus_store.metadata.database import MetadataDB
from lupus_store.metadata.models import TOKEN_SCOPES, ApiToken, Datasource, Team, utcnow
from lupus_store.metadata.secrets import hash_token, new_token


@dataclass(frozen=True)
class IssuedToken:
    """A token just created: ``token`` is the only copy of the clear text."""

    id: int
    name: str
    token: str
    scopes: tuple[str, ...]
    expires_at: datetime | None


def issue_token(
    db: MetadataDB,
    *,
    name: str,
    scopes: Iterable[str],
    team: str | None = None,
    datasource: str | None = None,
    expires_at: datetime | None = None,
    created_by_id: int | None = None,
) -> IssuedToken:
    """Create a token bound to a team or a datasource (an ``admin`` token may be unbound)."""
    scope_list = tuple(sorted(set(scopes)))
    unknown = [s for s in scope_list if s not in TOKEN_SCOPES]
    if not scope_list or unknown:
        raise LupusValidationError("scopes", f"must be a non-empty subset of {', '.join(TOKEN_SCOPES)}", value=unknown)
    if team is None and datasource is None and "admin" not in scope_list:
        raise LupusValidationError("team", "a non-admin token must be bound to a team or a datasource")
    clear = new_token()
    with db.session() as session:
        team_row = _one(session, Team, team, "team") if team else None
        ds_row = _one(session, Datasource, datasource, "datasource") if datasource else None
        row = ApiToken(
            name=name,
            token_prefix=clear[:12],
            token_hash=hash_token(clear),
            scopes=",".join(scope_list),
            team_id=team_row.id if team_row else None,
            datasource_id=ds_row.id if ds_row else None,
            expires_at=expires_at,
            created_by_id=created_by_id,
        )
        session.add(row)
        session.flush()
        return IssuedToken(row.id, name, clear, scope_list, expires_at)


def verify_token(db: MetadataDB, token: str) -> ApiToken | None:
    """The live token row for a clear token, or None if unknown, revoked or expired."""
    with db.session() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
        if row is None or row.revoked_at is not None:
            return None
        if row.expires_at is not None and _aware(row.expires_at) <= utcnow():
            return None
        row.last_used_at = utcnow()
        return row


def revoke_token(db: MetadataDB, token_id: int) -> bool:
    """Revoke a token by id; False if there is no such token."""
    with db.session() as session:
        row = session.get(ApiToken, token_id)
        if row is None:
            return False
        row.revoked_at = row.revoked_at or utcnow()
        return True


def list_tokens(db: MetadataDB) -> list[ApiToken]:
    """Every token (hashes only), newest first."""
    with db.session() as session:
        return list(session.scalars(select(ApiToken).order_by(ApiToken.id.desc())))


def _one(session, model, name: str, field: str):
    row = session.scalar(select(model).where(model.name == name))
    if row is None:
        raise LupusValidationError(field, f"no {field} named {name!r}")
    return row


def _aware(moment: datetime) -> datetime:
    # SQLite returns naive datetimes even for timezone-aware columns; they were written in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
