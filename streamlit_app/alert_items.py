"""Alerts for the Alerts page: alert state rows and recent anomalies of readable datasources; acknowledgement.

The alert sensor writes ``alert_states`` (one row per series, day and kind) with the alert it sent in
``payload["alert"]`` (``lupus_dagster.resources.alert_message.Alert``: labels, value, expected, band,
score, check name and detail, the chart link). Anomalies that no sensor has handled yet still show up
from the store; acknowledging one creates its alert state row already ``acknowledged``, so a later
sensor run does not post it again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
from sqlalchemy import select

from lupus_store.metadata import AlertState, MetadataDB, User
from streamlit_app import deep_links
from streamlit_app.access import CurrentUser
from streamlit_app.queries import label_text

COLUMNS = [
    "datasource",
    "day",
    "kind",
    "metric",
    "series",
    "value",
    "expected",
    "chart",
    "series_id",
    "severity",
    "status",
    "note",
    "acknowledged_by",
]
LINK_DAYS_BEFORE = 30  # the alert sensor's chart links show the 30 days before the alert's day, as here


def chart_link(datasource: str, metric: str | None, labels: Mapping[str, str] | None, day: date) -> str:
    """The app-relative link to a series' chart around ``day`` (the window of the alert sensor's links).

    >>> chart_link("ds", "churn.rate", {"segment": "b"}, date(2026, 3, 10))
    '/chart?datasource=ds&metric=churn.rate&label.segment=b&start=2026-02-08&end=2026-03-11'
    """
    labels = {key: (value,) for key, value in (labels or {}).items()}
    start, end = day - timedelta(days=LINK_DAYS_BEFORE), day + timedelta(days=1)
    return deep_links.chart_url("", deep_links.ChartView(datasource, metric, labels, start, end))


def _relative(link: str | None) -> str | None:
    """The path and query of an absolute chart link (the sensor's links carry ``LUPUS_APP_URL``)."""
    if not link:
        return None
    parts = urlsplit(link)
    return f"/{parts.path.rsplit('/', 1)[-1]}?{parts.query}" if parts.query else None


def _series_text(kind: str, alert: Mapping[str, Any], known: str | None) -> str:
    if kind == "anomaly":
        labels = alert.get("labels")
        return label_text(labels) if labels is not None else (known or "(all)")
    check = alert.get("check") or ""
    detail = alert.get("detail")
    return f"{check}: {detail}" if detail else check


def alert_rows(
    db: MetadataDB, datasources: Iterable[str], *, since: date, series_labels: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Alert state rows of ``datasources`` from ``since`` on, newest first.

    ``series`` comes from the alert the sensor stored (the labels of an anomaly; the check name and
    what failed for a check); ``series_labels`` (series id -> label text, from the store) names the
    series of rows whose alert has no labels. ``chart`` links to the series' chart around the day.
    """
    names = list(datasources)
    known = series_labels or {}
    with db.session() as session:
        rows = session.execute(
            select(AlertState, User.username)
            .outerjoin(User, User.id == AlertState.acknowledged_by_id)
            .where(AlertState.datasource.in_(names), AlertState.day >= since)
            .order_by(AlertState.day.desc(), AlertState.datasource, AlertState.metric, AlertState.id)
        ).all()
    records = []
    for a, username in rows:
        alert = (a.payload or {}).get("alert") or {}
        metric = alert.get("metric") or a.metric
        link = _relative(alert.get("link"))
        if link is None and a.kind == "anomaly":
            link = chart_link(a.datasource, metric, alert.get("labels"), a.day)
        records.append(
            {
                "datasource": a.datasource,
                "day": a.day,
                "kind": a.kind,
                "metric": metric,
                "series": _series_text(a.kind, alert, known.get(a.series_id)),
                "value": alert.get("value"),
                "expected": alert.get("expected"),
                "chart": link,
                "series_id": a.series_id,
                "severity": a.severity,
                "status": a.status,
                "note": a.acknowledged_note or "",
                "acknowledged_by": username or "",
            }
        )
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
            "value": getattr(row, "value", None),
            "expected": getattr(row, "expected", None),
            "chart": chart_link(datasource, row.metric, getattr(row, "labels", None), row.day),
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
    return merged.sort_values(
        ["day", "datasource", "metric", "series"], ascending=[False, True, True, True], ignore_index=True
    )


def describe(row: Mapping[str, Any]) -> str:
    """One line that tells an alert from the others of its day, e.g. for a picker.

    >>> describe({"day": date(2026, 3, 30), "datasource": "ds", "metric": "churn.rate", "series": "segment=b",
    ...           "kind": "anomaly"})
    '2026-03-30 · ds · churn.rate {segment=b} · anomaly'
    """
    series = f" {{{row['series']}}}" if row.get("series") else ""
    return f"{row['day']} · {row['datasource']} · {row.get('metric') or ''}{series} · {row['kind']}"


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
