"""Sign-in sessions in the metadata database, on SQLite and PostgreSQL: handoff codes, expiry, revocation, hashing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, update

from lupus_store.metadata import Base, MetadataDB, UiSession
from streamlit_app import accounts, sessions

HOUR = timedelta(hours=1)


@pytest.fixture
def db(metadata_url: str) -> MetadataDB:
    database = MetadataDB(metadata_url)
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture
def alice(db: MetadataDB) -> int:
    return accounts.add_user(db, "alice", teams=["recsys"], password="alice-password")


def test_migration_creates_the_session_table_as_the_model_describes(db: MetadataDB) -> None:
    assert "ui_sessions" in inspect(db.engine).get_table_names()
    with db.engine.connect() as connection:
        assert (
            compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata) == []
        )
    db.downgrade("0003")
    assert "ui_sessions" not in inspect(db.engine).get_table_names()


def test_a_handoff_code_gives_one_cookie_token_that_names_the_user(db: MetadataDB, alice: int) -> None:
    started = sessions.start(db, alice, ttl=HOUR)
    issued = sessions.redeem(db, started.handoff_code)
    assert sessions.resolve(db, token=issued.token).user_id == alice
    assert sessions.resolve(db, session_id=started.session_id).user_id == alice
    assert sessions.redeem(db, started.handoff_code) is None


def test_only_hashes_are_stored(db: MetadataDB, alice: int) -> None:
    started = sessions.start(db, alice, ttl=HOUR)
    with db.session() as session:
        row = session.get(UiSession, started.session_id)
        assert started.handoff_code not in (row.handoff_hash or "")
    issued = sessions.redeem(db, started.handoff_code)
    with db.session() as session:
        row = session.get(UiSession, started.session_id)
        assert row.handoff_hash is None and len(row.token_hash) == 64 and issued.token not in row.token_hash


def test_a_stale_handoff_code_is_refused(db: MetadataDB, alice: int) -> None:
    started = sessions.start(db, alice, ttl=HOUR)
    with db.session() as session:
        past = datetime.now(UTC) - timedelta(seconds=sessions.HANDOFF_SECONDS + 1)
        session.execute(update(UiSession).where(UiSession.id == started.session_id).values(created_at=past))
    assert sessions.redeem(db, started.handoff_code) is None


def test_an_expired_session_resolves_to_nobody(db: MetadataDB, alice: int) -> None:
    started = sessions.start(db, alice, ttl=HOUR)
    issued = sessions.redeem(db, started.handoff_code)
    assert issued.expires_at - datetime.now(UTC) == pytest.approx(HOUR, abs=timedelta(seconds=30))
    with db.session() as session:
        past = datetime.now(UTC) - timedelta(seconds=1)
        session.execute(update(UiSession).where(UiSession.id == started.session_id).values(expires_at=past))
    assert sessions.resolve(db, token=issued.token) is None
    assert sessions.resolve(db, session_id=started.session_id) is None


def test_revoking_by_cookie_or_by_id_ends_the_session(db: MetadataDB, alice: int) -> None:
    by_id = sessions.start(db, alice, ttl=HOUR)
    token = sessions.redeem(db, sessions.start(db, alice, ttl=HOUR).handoff_code).token
    sessions.revoke(db, session_id=by_id.session_id)
    sessions.revoke(db, token=token)
    assert sessions.resolve(db, session_id=by_id.session_id) is None
    assert sessions.resolve(db, token=token) is None
    assert sessions.redeem(db, by_id.handoff_code) is None  # a revoked sign-in sets no cookie either


def test_a_signed_out_single_sign_on_identity_is_remembered(db: MetadataDB, alice: int) -> None:
    identity = sessions.oidc_identity({"iss": "https://idp", "sub": "carol", "iat": 1_700_000_000, "nonce": "n1"})
    started = sessions.start(db, alice, ttl=HOUR, source="oidc", oidc_identity=identity)
    assert not sessions.identity_signed_out(db, identity)
    sessions.revoke(db, session_id=started.session_id)
    assert sessions.identity_signed_out(db, identity)
    later = sessions.oidc_identity({"iss": "https://idp", "sub": "carol", "iat": 1_700_000_900, "nonce": "n2"})
    assert not sessions.identity_signed_out(db, later)  # a new login through the provider is a new identity


def test_long_ended_sessions_are_purged_on_sign_in(db: MetadataDB, alice: int) -> None:
    old = sessions.start(db, alice, ttl=HOUR)
    with db.session() as session:
        ended = datetime.now(UTC) - sessions.PURGE_AFTER - HOUR
        session.execute(update(UiSession).where(UiSession.id == old.session_id).values(expires_at=ended))
    new = sessions.start(db, alice, ttl=HOUR)
    with db.session() as session:
        assert list(session.scalars(select(UiSession.id))) == [new.session_id]
    assert new.session_id != old.session_id  # ids are never reused: a tab holding the old id resolves nothing
    assert sessions.resolve(db, session_id=old.session_id) is None


def test_deleting_a_user_deletes_their_sessions(db: MetadataDB, alice: int) -> None:
    from lupus_store.metadata import User

    started = sessions.start(db, alice, ttl=HOUR)
    with db.session() as session:
        session.delete(session.get(User, alice))
    assert sessions.resolve(db, session_id=started.session_id) is None


@pytest.mark.parametrize("text", ["soon", "0", "-3"])
def test_a_bad_session_lifetime_is_named(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUPUS_UI_SESSION_HOURS", text)
    with pytest.raises(ValueError, match="LUPUS_UI_SESSION_HOURS"):
        sessions.ttl_from_env()
