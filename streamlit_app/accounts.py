"""Local accounts and teams: what `lupus user add`, `lupus team add` and `lupus grant` do.

Plain functions over the metadata database so the CLI, the tests and the screenshot
script share them. Passwords are stored only as Argon2id hashes.
"""

from __future__ import annotations

from sqlalchemy import select

from lupus_store.metadata import Datasource, DatasourcePermission, Membership, MetadataDB, Team, User
from lupus_store.metadata.secrets import hash_password
from lupus_store.metadata.sign_in import sign_in


def ensure_team(db: MetadataDB, name: str) -> int:
    """The id of team ``name``, created when missing."""
    with db.session() as session:
        team = session.scalar(select(Team).where(Team.name == name))
        if team is None:
            team = Team(name=name)
            session.add(team)
            session.flush()
        return team.id


def add_user(
    db: MetadataDB,
    username: str,
    *,
    teams: list[str] = (),  # type: ignore[assignment]
    password: str | None = None,
    is_admin: bool = False,
    display_name: str | None = None,
    oidc_subject: str | None = None,
) -> int:
    """Create or update a user and add them to ``teams`` (created when missing); returns the user id.

    Running it again for an existing user adds memberships and replaces the password when one
    is given, so it doubles as "reset password" and "add to team".
    """
    team_ids = [ensure_team(db, t) for t in teams]
    with db.session() as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            user = User(username=username)
            session.add(user)
        if password is not None:
            user.password_hash = hash_password(password)
        if display_name is not None:
            user.display_name = display_name
        if oidc_subject is not None:
            user.oidc_subject = oidc_subject
        user.is_admin = bool(is_admin or user.is_admin)
        user.is_active = True
        session.flush()
        for team_id in team_ids:
            if session.get(Membership, (user.id, team_id)) is None:
                session.add(Membership(user_id=user.id, team_id=team_id))
        return user.id


def authenticate(db: MetadataDB, username: str, password: str) -> int | None:
    """The id of the active local user whose password matches, else None (same answer for unknown users).

    The check is :func:`lupus_store.metadata.sign_in.sign_in`, which also upgrades older password hashes.
    """
    return sign_in(db, username, password)


def oidc_user(db: MetadataDB, subject: str, *, email: str | None, name: str | None) -> int:
    """The user signed in through OpenID Connect with ``subject``.

    Matched by subject; on the first login, an account pre-created with the email as its
    username (`lupus user add alice@example.com --team T`) is linked to the subject, so
    admins grant teams before people first sign in. Unknown people get an account without
    teams, which reads nothing until someone adds them to a team.
    """
    with db.session() as session:
        user = session.scalar(select(User).where(User.oidc_subject == subject))
        if user is None and email:
            user = session.scalar(select(User).where(User.username == email, User.oidc_subject.is_(None)))
            if user is not None:
                user.oidc_subject = subject
        if user is None:
            user = User(username=email or subject, display_name=name, email=email, oidc_subject=subject)
            session.add(user)
        session.flush()
        return user.id


def register_datasource(db: MetadataDB, name: str, *, team: str, description: str | None = None) -> None:
    """Register ``name`` as owned by ``team`` (created when missing); no-op when already registered."""
    team_id = ensure_team(db, team)
    with db.session() as session:
        if session.scalar(select(Datasource).where(Datasource.name == name)) is None:
            session.add(Datasource(name=name, owner_team_id=team_id, description=description))


def grant(db: MetadataDB, datasource: str, team: str, level: str = "read") -> None:
    """Give ``team`` ``level`` access (read/write/admin) to a registered datasource."""
    team_id = ensure_team(db, team)
    with db.session() as session:
        ds = session.scalar(select(Datasource).where(Datasource.name == datasource))
        if ds is None:
            raise ValueError(f"datasource {datasource!r} is not registered")
        perm = session.scalar(
            select(DatasourcePermission).where(
                DatasourcePermission.datasource_id == ds.id, DatasourcePermission.team_id == team_id
            )
        )
        if perm is None:
            session.add(DatasourcePermission(datasource_id=ds.id, team_id=team_id, level=level))
        else:
            perm.level = level
