"""The metadata database, on SQLite and on a real PostgreSQL: migrations, models, tokens."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from lupus_metrics.errors import LupusValidationError
from lupus_store.metadata import (
    AlertState,
    ApiToken,
    Dashboard,
    DashboardChart,
    Datasource,
    DatasourcePermission,
    Membership,
    MetadataDB,
    Team,
    User,
)
from lupus_store.metadata.models import utcnow
from lupus_store.metadata.secrets import hash_password, hash_token, legacy_scrypt_hash, verify_password
from lupus_store.metadata.sign_in import sign_in
from lupus_store.metadata.tokens import issue_token, list_tokens, revoke_token, verify_token

TABLES = {
    "teams", "users", "memberships", "datasources", "datasource_permissions", "api_tokens",
    "dashboards", "dashboard_charts", "alert_states", "incidents", "incident_notifications", "silences", "markers",
}  # fmt: skip


@pytest.fixture
def db(metadata_url):
    database = MetadataDB(metadata_url)
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture
def recsys(db):
    with db.session() as s:
        team = Team(name="recsys")
        s.add(team)
        s.flush()
        s.add(Datasource(name="service1-recommend", owner_team_id=team.id))
    return db


def test_migrations_create_every_table_and_downgrade_removes_them(metadata_url):
    database = MetadataDB(metadata_url)
    database.upgrade()
    assert set(inspect(database.engine).get_table_names()) >= TABLES
    assert database.current_revision() == database.head_revision()
    database.upgrade()  # idempotent
    database.downgrade("base")
    assert not TABLES & set(inspect(database.engine).get_table_names())
    database.dispose()


def test_team_members_and_datasource_permissions(recsys):
    with recsys.session() as s:
        analytics = Team(name="analytics")
        alice = User(username="alice", password_hash=hash_password("pw"))
        s.add_all([analytics, alice])
        s.flush()
        s.add(Membership(user_id=alice.id, team_id=analytics.id, role="member"))
        ds = s.scalar(select(Datasource).where(Datasource.name == "service1-recommend"))
        s.add(DatasourcePermission(datasource_id=ds.id, team_id=analytics.id, level="read"))
    with recsys.session() as s:
        ds = s.scalar(select(Datasource).where(Datasource.name == "service1-recommend"))
        assert ds.owner_team.name == "recsys"
        assert [(p.team.name, p.level) for p in ds.permissions] == [("analytics", "read")]


def test_datasource_names_are_unique(recsys):
    with pytest.raises(IntegrityError), recsys.session() as s:
        s.add(Datasource(name="service1-recommend", owner_team_id=1))


def test_permission_levels_are_checked(recsys):
    with pytest.raises(IntegrityError), recsys.session() as s:
        s.add(DatasourcePermission(datasource_id=1, team_id=1, level="owner"))


def test_deleting_a_team_removes_its_memberships(db):
    with db.session() as s:
        team, user = Team(name="t"), User(username="u")
        s.add_all([team, user])
        s.flush()
        s.add(Membership(user_id=user.id, team_id=team.id))
    with db.session() as s:
        s.delete(s.scalar(select(Team).where(Team.name == "t")))
    with db.session() as s:
        assert s.scalars(select(Membership)).all() == []
        assert s.scalar(select(User).where(User.username == "u")) is not None


def test_dashboards_keep_chart_order_and_filters(db):
    with db.session() as s:
        user = User(username="pm")
        s.add(user)
        s.flush()
        board = Dashboard(name="Weekly", owner_id=user.id)
        board.charts = [
            DashboardChart(position=2, datasource="ds", metric="b", label_filters={"region": ["JP"]}),
            DashboardChart(position=1, datasource="ds", metric="a", label_filters={}),
        ]
        s.add(board)
    with db.session() as s:
        board = s.scalar(select(Dashboard))
        assert [(c.metric, c.label_filters) for c in board.charts] == [("a", {}), ("b", {"region": ["JP"]})]


def test_alert_state_is_unique_per_series_day_and_kind(db):
    with db.session() as s:
        s.add(AlertState(datasource="ds", series_id="abc", day=date(2026, 1, 1), severity=3.0))
    with pytest.raises(IntegrityError), db.session() as s:
        s.add(AlertState(datasource="ds", series_id="abc", day=date(2026, 1, 1), severity=5.0))
    with db.session() as s:
        s.add(AlertState(datasource="ds", series_id="abc", day=date(2026, 1, 1), kind="check"))


def test_tokens_are_stored_hashed_and_verified(recsys):
    issued = issue_token(recsys, name="job", scopes=["write", "read"], datasource="service1-recommend")
    with recsys.session() as s:
        row = s.scalar(select(ApiToken))
        assert row.token_hash == hash_token(issued.token)
        assert issued.token not in (row.token_hash, row.token_prefix, row.scopes, row.name)
        assert row.scope_set == {"read", "write"}
    verified = verify_token(recsys, issued.token)
    assert verified is not None and verified.last_used_at is not None
    assert verify_token(recsys, issued.token + "x") is None


def test_revoked_and_expired_tokens_are_refused(recsys):
    revoked = issue_token(recsys, name="old", scopes=["read"], team="recsys")
    assert revoke_token(recsys, revoked.id)
    assert verify_token(recsys, revoked.token) is None
    expired = issue_token(
        recsys, name="tmp", scopes=["read"], team="recsys", expires_at=utcnow() - timedelta(seconds=1)
    )
    assert verify_token(recsys, expired.token) is None
    live = issue_token(recsys, name="live", scopes=["read"], team="recsys", expires_at=utcnow() + timedelta(hours=1))
    assert verify_token(recsys, live.token) is not None
    assert [t.name for t in list_tokens(recsys)] == ["live", "tmp", "old"]


def test_token_scopes_and_binding_are_validated(recsys):
    with pytest.raises(LupusValidationError, match="scopes"):
        issue_token(recsys, name="x", scopes=["delete"], team="recsys")
    with pytest.raises(LupusValidationError, match="bound to a team or a datasource"):
        issue_token(recsys, name="x", scopes=["read"])
    with pytest.raises(LupusValidationError, match="no team named"):
        issue_token(recsys, name="x", scopes=["read"], team="nobody")


def test_passwords_are_salted_argon2id_hashes_at_owasps_parameters():
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second and first.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_password("correct horse", first)
    assert not verify_password("wrong", first)
    assert not verify_password("x", None)
    assert not verify_password("x", "scrypt$not-base64$!") and not verify_password("x", "$argon2id$garbage")


def test_a_scrypt_hash_of_an_earlier_release_is_replaced_by_argon2id_at_the_next_sign_in(db):
    with db.session() as session:
        session.add(User(username="old-timer", password_hash=legacy_scrypt_hash("correct horse")))
    assert sign_in(db, "old-timer", "wrong horse") is None
    with db.session() as session:  # a failed sign-in changes nothing
        assert session.scalar(select(User.password_hash).where(User.username == "old-timer")).startswith("scrypt$")
    user_id = sign_in(db, "old-timer", "correct horse")
    with db.session() as session:
        stored = session.scalar(select(User.password_hash).where(User.username == "old-timer"))
    assert user_id is not None and stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert sign_in(db, "old-timer", "correct horse") == user_id  # and the new hash signs in


def test_a_hash_with_weaker_argon2_parameters_is_upgraded_too(db):
    from argon2 import PasswordHasher, Type

    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID).hash("pw")
    with db.session() as session:
        session.add(User(username="weak", password_hash=weak))
    assert sign_in(db, "weak", "pw") is not None
    with db.session() as session:
        assert session.scalar(select(User.password_hash).where(User.username == "weak")) != weak


def test_unknown_inactive_and_passwordless_users_get_no_and_cost_a_check(db, monkeypatch):
    import lupus_store.metadata.sign_in as module

    checks = []
    monkeypatch.setattr(module, "waste_a_check", lambda password: checks.append(password))
    with db.session() as session:
        session.add_all([User(username="gone", password_hash=hash_password("pw"), is_active=False),
                         User(username="oidc-only", oidc_subject="sub-1")])  # fmt: skip
    assert [sign_in(db, name, "pw") for name in ("nobody", "gone", "oidc-only")] == [None, None, None]
    assert checks == ["pw", "pw", "pw"]


@pytest.mark.parametrize(("model", "field", "name"), [
    ("Team", "name", "recsys\n"), ("User", "username", "alice\x00"), ("Datasource", "name", "dsa\n"),
    ("ApiToken", "name", "job\u202e"), ("Team", "name", "x" * 101), ("User", "username", " alice"),
])  # fmt: skip
def test_names_of_every_account_record_follow_the_name_rule(model, field, name):
    import lupus_store.metadata.models as models

    with pytest.raises(LupusValidationError):
        getattr(models, model)(**{field: name})
