"""Sign-in sessions of the app in the metadata database (table ``ui_sessions``).

Streamlit cannot set a cookie from a script run (its scripts talk to the browser over a WebSocket), so
a sign-in takes two steps:

1. :func:`start` (in the script run that checked the password or the single sign-on identity) stores a
   session with a one-time *handoff code*, valid for :data:`HANDOFF_SECONDS`, and the page hands the code to
   the browser.
2. The browser posts the code to the app's own HTTP route (``streamlit_app/session_routes.py``), which
   calls :func:`redeem`: the code is spent, a fresh random token is stored as its SHA-256 hash, and the
   response sets the token in an ``HttpOnly`` cookie. Page scripts never see the token.

Every script run then finds the user with :func:`resolve` (the session id kept in the WebSocket session,
or the cookie's token on a reload or in a new tab); :func:`revoke` ends a session for every tab at once.
Tokens and codes are 256-bit random values, stored only hashed, so a copy of the database opens no
session; expiry and revocation are decided here, on the server, not by the cookie.

Example:
    >>> import tempfile
    >>> from lupus_store.metadata import MetadataDB
    >>> from streamlit_app.accounts import add_user
    >>> db = MetadataDB(f"sqlite:///{tempfile.mkdtemp()}/meta.db"); db.upgrade()
    >>> started = start(db, add_user(db, "alice"), ttl=timedelta(hours=1))
    >>> issued = redeem(db, started.handoff_code)
    >>> resolve(db, token=issued.token).user_id == resolve(db, session_id=started.session_id).user_id
    True
    >>> redeem(db, started.handoff_code) is None  # a code works once
    True
    >>> revoke(db, token=issued.token); resolve(db, token=issued.token) is None
    True
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from lupus_store.metadata import MetadataDB, UiSession

COOKIE_NAME = "lupus_session"
HANDOFF_SECONDS = 60
DEFAULT_TTL_HOURS = 168.0  # a week: alert links from chat open without a password for that long
PURGE_AFTER = timedelta(days=30)  # ended sessions are kept this long (who signed in when), then deleted


@dataclass(frozen=True)
class Started:
    session_id: int
    handoff_code: str


@dataclass(frozen=True)
class Issued:
    """The cookie's token and when the session ends (the cookie's lifetime)."""

    token: str
    expires_at: datetime


@dataclass(frozen=True)
class Session:
    session_id: int
    user_id: int
    source: str
    expires_at: datetime


def ttl_from_env() -> timedelta:
    """How long a sign-in lasts: ``LUPUS_UI_SESSION_HOURS`` (default 168, a week).

    >>> os.environ["LUPUS_UI_SESSION_HOURS"] = "12"; ttl_from_env()
    datetime.timedelta(seconds=43200)
    >>> del os.environ["LUPUS_UI_SESSION_HOURS"]
    """
    text = os.environ.get("LUPUS_UI_SESSION_HOURS", "").strip()
    try:
        hours = float(text) if text else DEFAULT_TTL_HOURS
    except ValueError as error:
        raise ValueError(f"LUPUS_UI_SESSION_HOURS must be a number of hours, got {text!r}") from error
    if hours <= 0:
        raise ValueError(f"LUPUS_UI_SESSION_HOURS must be positive, got {text!r}")
    return timedelta(hours=hours)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite returns naive datetimes


def start(
    db: MetadataDB, user_id: int, *, ttl: timedelta, source: str = "password", oidc_identity: str | None = None
) -> Started:
    """A new session of ``user_id`` lasting ``ttl``, with its one-time handoff code."""
    code = secrets.token_urlsafe(32)
    now = _now()
    with db.session() as session:
        # Housekeeping on sign-in (rare, cheap): drop sessions that ended long ago.
        session.execute(delete(UiSession).where(UiSession.expires_at < now - PURGE_AFTER))
        row = UiSession(
            user_id=user_id,
            source=source,
            handoff_hash=_hash(code),
            oidc_identity=oidc_identity,
            created_at=now,
            expires_at=now + ttl,
        )
        session.add(row)
        session.flush()
        return Started(row.id, code)


def redeem(db: MetadataDB, code: str) -> Issued | None:
    """Spend a handoff code: the session's new cookie token, or None for an unknown, spent or stale code."""
    if not code:
        return None
    now = _now()
    with db.session() as session:
        row = session.scalar(select(UiSession).where(UiSession.handoff_hash == _hash(code)).with_for_update())
        if row is None:
            return None
        row.handoff_hash = None  # spent, whatever follows
        fresh = _aware(row.created_at) >= now - timedelta(seconds=HANDOFF_SECONDS)
        if not fresh or row.revoked_at is not None or _aware(row.expires_at) <= now:
            return None
        token = secrets.token_urlsafe(32)
        row.token_hash = _hash(token)
        return Issued(token, _aware(row.expires_at))


def resolve(db: MetadataDB, *, session_id: int | None = None, token: str | None = None) -> Session | None:
    """The live (not expired, not revoked) session with this id or cookie token, else None."""
    if session_id is None and not token:
        return None
    query = select(UiSession)
    query = query.where(UiSession.id == session_id) if session_id is not None else query
    query = query.where(UiSession.token_hash == _hash(token)) if token else query
    with db.session() as session:
        row = session.scalar(query)
        if row is None or row.revoked_at is not None or _aware(row.expires_at) <= _now():
            return None
        return Session(row.id, row.user_id, row.source, _aware(row.expires_at))


def revoke(db: MetadataDB, *, session_id: int | None = None, token: str | None = None) -> None:
    """End the session with this id and/or cookie token (sign-out); unknown ones are ignored."""
    if session_id is None and not token:
        return
    now = _now()
    with db.session() as session:
        rows = []
        if session_id is not None:
            rows.append(session.get(UiSession, session_id))
        if token:
            rows.append(session.scalar(select(UiSession).where(UiSession.token_hash == _hash(token))))
        for row in rows:
            if row is not None and row.revoked_at is None:
                row.revoked_at = now
                row.handoff_hash = None


def oidc_identity(claims: dict[str, object]) -> str:
    """A stable name for one single sign-on login: the hash of issuer, subject and the ID token's issue time.

    >>> oidc_identity({"iss": "https://idp", "sub": "u1", "iat": 1}) == oidc_identity({"sub": "u1", "iat": 1, "iss": "https://idp"})
    True
    """
    parts = [str(claims.get(key, "")) for key in ("iss", "sub", "iat", "nonce")]
    return _hash("\x1f".join(parts))


def identity_signed_out(db: MetadataDB, identity: str) -> bool:
    """True when a session started from this single sign-on login was revoked (the person signed out)."""
    with db.session() as session:
        revoked = select(UiSession.id).where(UiSession.oidc_identity == identity, UiSession.revoked_at.is_not(None))
        return session.scalar(revoked.limit(1)) is not None
