"""Which datasources a user may read, and which they may change.

One rule, used by every page (lists, deep links, dashboards, alerts): a user reads a
datasource when one of their teams owns it or holds a ``read``, ``write`` or ``admin``
permission on it; administrators read everything, including datasources that exist in the
store but are not registered in the metadata database yet. Acknowledging and silencing
alerts changes a datasource's alert state: that needs ownership or a ``write`` or ``admin``
permission (:func:`writable_datasources`), as the API asks of a token.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import or_, select

from lupus_store.metadata import Datasource, DatasourcePermission, Membership, MetadataDB, Team, User


@dataclass(frozen=True)
class CurrentUser:
    """The signed-in person as the pages need it (no ORM object kept across reruns)."""

    id: int
    username: str
    display_name: str | None = None
    is_admin: bool = False
    teams: dict[int, str] = field(default_factory=dict)  # team id -> team name

    @property
    def label(self) -> str:
        return self.display_name or self.username


def load_user(db: MetadataDB, user_id: int) -> CurrentUser | None:
    """The active user with this id and their teams, or None."""
    with db.session() as session:
        user = session.get(User, user_id)
        if user is None or not user.is_active:
            return None
        rows = session.execute(
            select(Team.id, Team.name)
            .join(Membership, Membership.team_id == Team.id)
            .where(Membership.user_id == user.id)
        ).all()
        return CurrentUser(user.id, user.username, user.display_name, bool(user.is_admin), {r.id: r.name for r in rows})


def readable_datasources(db: MetadataDB, user: CurrentUser, *, in_store: Iterable[str] = ()) -> list[str]:
    """Sorted names of the datasources ``user`` may read.

    ``in_store`` lists datasources present in the metric store: admins also see those that
    have no metadata row (nobody else does, since nobody owns them).
    """
    with db.session() as session:
        if user.is_admin:
            names = set(session.scalars(select(Datasource.name)))
            return sorted(names | set(in_store))
        if not user.teams:
            return []
        team_ids = list(user.teams)
        granted = select(DatasourcePermission.datasource_id).where(DatasourcePermission.team_id.in_(team_ids))
        query = select(Datasource.name).where(or_(Datasource.owner_team_id.in_(team_ids), Datasource.id.in_(granted)))
        return sorted(session.scalars(query))


def can_read(db: MetadataDB, user: CurrentUser, datasource: str) -> bool:
    """True if ``user`` may read ``datasource`` (same rule as :func:`readable_datasources`)."""
    if user.is_admin:
        return True
    return datasource in readable_datasources(db, user)


def writable_datasources(db: MetadataDB, user: CurrentUser, names: Iterable[str]) -> set[str]:
    """Of ``names``, the datasources ``user`` may change: acknowledge and silence their incidents.

    The API's rule for a write token: one of the user's teams owns the datasource or holds a ``write`` or
    ``admin`` permission on it; administrators change everything. A ``read`` permission only reads.
    """
    names = list(names)
    if user.is_admin:
        return set(names)
    if not user.teams or not names:
        return set()
    team_ids = list(user.teams)
    with db.session() as session:
        granted = select(DatasourcePermission.datasource_id).where(
            DatasourcePermission.team_id.in_(team_ids), DatasourcePermission.level.in_(("write", "admin"))
        )
        query = select(Datasource.name).where(
            Datasource.name.in_(names), or_(Datasource.owner_team_id.in_(team_ids), Datasource.id.in_(granted))
        )
        return set(session.scalars(query))


def owner_teams(db: MetadataDB, names: Iterable[str]) -> dict[str, tuple[str | None, str | None]]:
    """datasource name -> (owner team name, description) for the registered ones."""
    with db.session() as session:
        rows = session.execute(
            select(Datasource.name, Team.name, Datasource.description)
            .join(Team, Team.id == Datasource.owner_team_id)
            .where(Datasource.name.in_(list(names)))
        ).all()
    return {name: (team, description) for name, team, description in rows}
