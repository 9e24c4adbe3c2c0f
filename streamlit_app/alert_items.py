"""Alerts for the Alerts page: alert state rows and recent anomalies of readable datasources; acknowledgement.

The alert sensor writes ``alert_states`` (one row per series, day and kind). Anomalies that
no sensor has handled yet still show up from the store; acknowledging one creates its alert
state row already ``acknowledged``, so a later sensor run does not post it again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import pandas as pd
from sqlalchemy import select

from lupus_store.metadata import AlertState, MetadataDB, User
from streamlit_app.access import CurrentUser

COLUMNS = [
    "datasource",
    "day",
    "kind",
    "metric",
    "series",
    "series_id",
    "severity",
    "status",
    "note",
    "acknowledged_by",
]


def alert_rows(db: MetadataDB, datasources: Iterable[str], *, since: date) -> pd.DataFrame:
    """Alert state rows of ``datasources`` from ``since`` on, newest first."""
    names = list(datasources)
    with db.session() as session:
        rows = session.execute(
            select(AlertState, User.username)
            .outerjoin(User, User.id == AlertState.acknowledged_by_id)
            .where(AlertState.datasource.in_(names), AlertState.day >= since)
            .order_by(AlertState.day.desc(), AlertState.datasource)
        ).all()
    records = [
        {
            "datasource": a.datasource,
            "day": a.day,
            "kind": a.kind,
            "metric": a.metric,
            "series": (a.payload or {}).get("labels_text") or (a.payload or {}).get("message") or "",
            "series_id": a.series_id,
            "severity": a.severity,
            "status": a.status,
            "note": a.acknowledged_note or "",
            "acknowledged_by": username or "",
        }
        for a, username in rows
    ]
    return pd.DataFrame(records, columns=COLUMNS)


def merge_anomalies(alerts: pd.DataFrame, anomalies: pd.DataFrame, datasource: str) -> pd.DataFrame:
    """``alerts`` plus one ``new`` row per (series, day) anomaly of ``datasource`` that has no alert state yet."""
    if anomalies.empty:
        return alerts
    known = set(zip(alerts["series_id"], alerts["day"], alerts["kind"], strict=True))
    frame = anomalies.assign(day=anomalies["ts"].dt.date)
    # One row per series and day, the most severe (largest |score|, either direction) first.
    frame = frame.assign(severity=frame["score"].abs()).sort_values("severity", ascending=False, na_position="last")
    frame = frame.drop_duplicates(["series_id", "day"])
    extra = [
        {
            "datasource": datasource,
            "day": row.day,
            "kind": "anomaly",
            "metric": row.metric,
            "series": row.label_text,
            "series_id": row.series_id,
            "severity": float(row.severity) if pd.notna(row.severity) else 0.0,
            "status": "new",
            "note": "",
            "acknowledged_by": "",
        }
        for row in frame.itertuples()
        if (row.series_id, row.day, "anomaly") not in known
    ]
    if not extra:
        return alerts
    merged = (
        pd.concat([alerts, pd.DataFrame(extra, columns=COLUMNS)], ignore_index=True)
        if len(alerts)
        else pd.DataFrame(extra, columns=COLUMNS)
    )
    return merged.sort_values(["day", "datasource"], ascending=[False, True], ignore_index=True)


def acknowledge(
    db: MetadataDB,
    user: CurrentUser,
    *,
    datasource: str,
    series_id: str,
    day: date,
    kind: str,
    metric: str | None,
    note: str,
    severity: float = 0.0,
) -> None:
    """Mark an alert acknowledged by ``user`` with ``note`` (creating its alert state when missing)."""
    with db.session() as session:
        state = session.scalar(
            select(AlertState).where(AlertState.series_id == series_id, AlertState.day == day, AlertState.kind == kind)
        )
        if state is None:
            state = AlertState(
                datasource=datasource, series_id=series_id, day=day, kind=kind, metric=metric, severity=severity
            )
            session.add(state)
        state.status = "acknowledged"
        state.acknowledged_by_id = user.id
        state.acknowledged_note = note.strip() or None


def default_since(today: date, days: int = 7) -> date:
    return today - timedelta(days=days)
