"""Alerts for the Alerts page outside incidents: chart links of alerts, and store anomalies no incident holds.

Incidents and their member alerts come from the incident store (``streamlit_app/incident_board.py``);
acknowledging and silencing go through ``lupus_store.incidents.IncidentStore``. What is left here: the
app-relative chart link of an alert (the sensor's links carry ``LUPUS_APP_URL``), and the anomalies of the
store that no incident holds yet (a metrics run without the alert sensor still shows what it found).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, timedelta
from urllib.parse import urlsplit

import pandas as pd

from streamlit_app import deep_links, formats

LINK_DAYS_BEFORE = 30  # the alert sensor's chart links show the 30 days before the alert's day, as here
LOOSE_COLUMNS = ["day", "datasource", "metric", "series", "value", "expected", "change", "score", "chart", "link"]


def chart_link(datasource: str, metric: str | None, labels: Mapping[str, str] | None, day: date) -> str:
    """The app-relative link to a series' chart around ``day`` (the window of the alert sensor's links).

    >>> chart_link("ds", "churn.rate", {"segment": "b"}, date(2026, 3, 10))
    '/chart?datasource=ds&metric=churn.rate&label.segment=b&start=2026-02-08&end=2026-03-11'
    """
    labels = {key: (value,) for key, value in (labels or {}).items()}
    start, end = day - timedelta(days=LINK_DAYS_BEFORE), day + timedelta(days=1)
    return deep_links.chart_url("", deep_links.ChartView(datasource, metric, labels, start, end))


def relative_link(link: str | None) -> str | None:
    """The path and query of an absolute chart link (the sensor's links carry ``LUPUS_APP_URL``).

    >>> relative_link("http://ui.example/lupus/chart?datasource=ds&metric=m"), relative_link(None)
    ('/chart?datasource=ds&metric=m', None)
    """
    if not link:
        return None
    parts = urlsplit(link)
    return f"/{parts.path.rsplit('/', 1)[-1]}?{parts.query}" if parts.query else None


def loose_anomalies(anomalies: Mapping[str, pd.DataFrame], *, known: Collection[tuple[str, date]] = ()) -> pd.DataFrame:
    """One row per (series, day) of the store's flagged points (``datasource -> frame`` as read by
    ``queries.anomalies``) that is not in ``known`` ((series id, day) of incident members), the strongest
    (largest |score|) point of the day, newest first.

    >>> frame = pd.DataFrame({"metric": ["m", "m"], "label_text": ["region=JP"] * 2, "series_id": ["s1", "s1"],
    ...     "labels": [{"region": "JP"}] * 2, "value": [5.0, 1.0], "expected": [2.0, 2.0],
    ...     "ts": pd.to_datetime(["2026-03-30 00:00", "2026-03-30 12:00"], utc=True), "score": [3.0, -5.0]})
    >>> loose_anomalies({"ds": frame})[["day", "series", "value", "change", "score"]].values.tolist()
    [['2026-03-30', 'region=JP', '1', '-50%', '-5']]
    >>> len(loose_anomalies({"ds": frame}, known={("s1", date(2026, 3, 30))}))
    0
    """
    rows = []
    for datasource, frame in anomalies.items():
        if frame.empty:
            continue
        frame = frame.assign(day=frame["ts"].dt.date, strength=frame["score"].abs())
        frame = frame.sort_values("strength", ascending=False, na_position="last").drop_duplicates(["series_id", "day"])
        for row in frame.itertuples():
            if (row.series_id, row.day) in known:
                continue
            kind = formats.metric_kind(row.metric)
            value, expected = getattr(row, "value", None), getattr(row, "expected", None)
            link = chart_link(datasource, row.metric, getattr(row, "labels", None), row.day)
            rows.append(
                {
                    "day": row.day.isoformat(), "datasource": datasource, "metric": row.metric,
                    "series": row.label_text, "value": formats.format_value(value, kind),
                    "expected": formats.format_value(expected, kind), "change": formats.format_change(value, expected),
                    "score": formats.format_value(row.score, "number"), "chart": "Open chart", "link": link,
                }
            )  # fmt: skip
    frame = pd.DataFrame(rows, columns=LOOSE_COLUMNS)
    return frame.sort_values(["day", "datasource", "metric", "series"], ascending=[False, True, True, True],
                             ignore_index=True)  # fmt: skip
