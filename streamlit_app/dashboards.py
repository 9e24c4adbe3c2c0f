"""Dashboards in the metadata database: create, add charts (with their filters), reorder, remove, share.

A dashboard is private to its owner or shared with one of the owner's teams; team members
see a shared dashboard read-only. Charts keep their datasource, so whoever opens a
dashboard still sees only the charts of datasources they may read (checked by the page).
Time ranges are stored as ``<N>d`` (the last N days, moving) or ``YYYY-MM-DD..YYYY-MM-DD``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import or_, select

from lupus_store.metadata import Dashboard, DashboardChart, MetadataDB
from streamlit_app.access import CurrentUser
from streamlit_app.deep_links import ChartView

DEFAULT_RANGE = "90d"


@dataclass(frozen=True)
class ChartItem:
    id: int
    position: int
    title: str | None
    view: ChartView
    time_range: str


@dataclass(frozen=True)
class DashboardInfo:
    id: int
    name: str
    owner_id: int
    shared_team_id: int | None
    charts: tuple[ChartItem, ...] = ()

    def editable_by(self, user: CurrentUser) -> bool:
        return user.is_admin or user.id == self.owner_id


class DashboardError(Exception):
    """A dashboard that does not exist, or that this user may not see or change."""


def _visible(user: CurrentUser):
    if user.is_admin:
        return select(Dashboard)
    return select(Dashboard).where(or_(Dashboard.owner_id == user.id, Dashboard.shared_team_id.in_(list(user.teams))))


def encode_range(start: date | None, end: date | None, *, today: date) -> str:
    """``90d``-style when the range ends today or yesterday (a moving window), else absolute dates."""
    if start is None or end is None:
        return DEFAULT_RANGE
    if end >= today - timedelta(days=1):
        return f"{(end - start).days + 1}d"
    return f"{start.isoformat()}..{end.isoformat()}"


def resolve_range(text: str, *, today: date) -> tuple[date, date]:
    """The dates of a stored range; moving windows end yesterday (today's partition is often incomplete).

    >>> resolve_range("7d", today=date(2026, 1, 10))
    (datetime.date(2026, 1, 3), datetime.date(2026, 1, 9))
    >>> resolve_range("2025-12-01..2025-12-31", today=date(2026, 1, 10))
    (datetime.date(2025, 12, 1), datetime.date(2025, 12, 31))
    """
    if ".." in text:
        first, last = text.split("..", 1)
        return date.fromisoformat(first), date.fromisoformat(last)
    days = int(text.rstrip("d") or 90)
    end = today - timedelta(days=1)
    return end - timedelta(days=days - 1), end


def list_dashboards(db: MetadataDB, user: CurrentUser) -> list[DashboardInfo]:
    """Dashboards ``user`` owns or that are shared with one of their teams, by name (charts not loaded)."""
    with db.session() as session:
        rows = session.scalars(_visible(user).order_by(Dashboard.name, Dashboard.id)).all()
        return [DashboardInfo(d.id, d.name, d.owner_id, d.shared_team_id) for d in rows]


def get_dashboard(db: MetadataDB, user: CurrentUser, dashboard_id: int) -> DashboardInfo:
    """One visible dashboard with its charts in order; DashboardError otherwise."""
    with db.session() as session:
        d = session.scalar(_visible(user).where(Dashboard.id == dashboard_id))
        if d is None:
            raise DashboardError(f"no dashboard {dashboard_id} visible to you")
        charts = tuple(
            ChartItem(
                c.id,
                c.position,
                c.title,
                ChartView(c.datasource, c.metric, {k: tuple(v) for k, v in (c.label_filters or {}).items()}),
                c.time_range,
            )
            for c in sorted(d.charts, key=lambda c: (c.position, c.id))
        )
        return DashboardInfo(d.id, d.name, d.owner_id, d.shared_team_id, charts)


def _editable(session, user: CurrentUser, dashboard_id: int) -> Dashboard:
    d = session.get(Dashboard, dashboard_id)
    if d is None or not (user.is_admin or d.owner_id == user.id):
        raise DashboardError("only the owner can change this dashboard")
    return d


def create_dashboard(db: MetadataDB, user: CurrentUser, name: str) -> int:
    """A new, empty private dashboard; returns its id."""
    name = name.strip()
    if not name:
        raise DashboardError("a dashboard needs a name")
    with db.session() as session:
        d = Dashboard(name=name, owner_id=user.id)
        session.add(d)
        session.flush()
        return d.id


def add_chart(
    db: MetadataDB, user: CurrentUser, dashboard_id: int, view: ChartView, *, time_range: str, title: str | None = None
) -> int:
    """Append a chart (metric, label filters, range) to a dashboard the user owns; returns the chart id."""
    if not view.metric:
        raise DashboardError("choose a metric first")
    with db.session() as session:
        d = _editable(session, user, dashboard_id)
        position = max((c.position for c in d.charts), default=-1) + 1
        chart = DashboardChart(
            dashboard_id=d.id,
            position=position,
            datasource=view.datasource,
            metric=view.metric,
            label_filters={k: list(v) for k, v in view.labels.items()},
            time_range=time_range,
            title=title or None,
        )
        session.add(chart)
        session.flush()
        return chart.id


def move_chart(db: MetadataDB, user: CurrentUser, dashboard_id: int, chart_id: int, delta: int) -> None:
    """Move a chart ``delta`` places (-1 up, +1 down) and renumber positions 0..n-1."""
    with db.session() as session:
        d = _editable(session, user, dashboard_id)
        charts = sorted(d.charts, key=lambda c: (c.position, c.id))
        index = next((i for i, c in enumerate(charts) if c.id == chart_id), None)
        if index is None:
            raise DashboardError(f"chart {chart_id} is not on this dashboard")
        target = min(max(index + delta, 0), len(charts) - 1)
        charts.insert(target, charts.pop(index))
        for position, chart in enumerate(charts):
            chart.position = position


def remove_chart(db: MetadataDB, user: CurrentUser, dashboard_id: int, chart_id: int) -> None:
    with db.session() as session:
        d = _editable(session, user, dashboard_id)
        for chart in list(d.charts):
            if chart.id == chart_id:
                d.charts.remove(chart)


def rename_dashboard(db: MetadataDB, user: CurrentUser, dashboard_id: int, name: str) -> None:
    if not name.strip():
        raise DashboardError("a dashboard needs a name")
    with db.session() as session:
        _editable(session, user, dashboard_id).name = name.strip()


def share_dashboard(db: MetadataDB, user: CurrentUser, dashboard_id: int, team_id: int | None) -> None:
    """Share with one of the user's teams (None makes it private again)."""
    if team_id is not None and team_id not in user.teams and not user.is_admin:
        raise DashboardError("you can share only with your own teams")
    with db.session() as session:
        _editable(session, user, dashboard_id).shared_team_id = team_id


def delete_dashboard(db: MetadataDB, user: CurrentUser, dashboard_id: int) -> None:
    with db.session() as session:
        session.delete(_editable(session, user, dashboard_id))
