"""What one chart shows: the points of the selected series in a date range, the detector's verdicts, and
optionally the same series a week earlier; and the CSV of exactly those points.

Shared by the chart page and the dashboards, so a dashboard chart and the chart its link opens show the
same data.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from streamlit_app import charts, queries

COMPARE_DAYS = 7  # "a week earlier"


@dataclass(frozen=True)
class ChartData:
    """The rows a chart draws.

    ``points``: ``ts, value, label_text, series_id, labels`` of the selected series in the range.
    ``evaluated``: detector verdicts of those series; every verdict when the chart draws the band
    (:func:`streamlit_app.charts.shows_band`), else only the flagged ones (all the anomaly marks
    need), unless nothing is flagged (then every verdict, to tell "no verdicts" from "no anomalies").
    ``previous``: with ``compare``, the same series :data:`COMPARE_DAYS` earlier, ``ts`` moved onto
    the shown days; None otherwise or when the chart has too many series to draw it.
    """

    points: pd.DataFrame
    evaluated: pd.DataFrame
    previous: pd.DataFrame | None = None

    @property
    def flagged(self) -> pd.DataFrame:
        return self.evaluated[self.evaluated["is_anomaly"]] if len(self.evaluated) else self.evaluated


def matches(labels: Mapping[str, str] | None, filters: Mapping[str, tuple[str, ...]]) -> bool:
    """True when ``labels`` has one of the selected values for every filtered key.

    >>> matches({"region": "JP", "k": "10"}, {"region": ("JP", "US")}), matches(None, {"region": ("JP",)})
    (True, False)
    """
    return all((labels or {}).get(key) in values for key, values in filters.items())


def selected_series(series: pd.DataFrame, metric: str, filters: Mapping[str, tuple[str, ...]]) -> set[str]:
    """Ids of ``metric``'s series (rows of ``queries.series``) whose labels pass ``filters``."""
    rows = series[series["metric"] == metric]
    return set(rows.loc[rows["labels"].map(lambda labels: matches(labels, filters)), "series_id"])


def load(
    root: str, datasource: str, metric: str, series_ids: set[str], start: date, end: date, *, compare: bool = False
) -> ChartData:
    """The points, verdicts and (with ``compare``) week-earlier points of ``series_ids`` in ``start..end``."""
    points = queries.points(root, datasource, metric, start, end)
    points = points[points["series_id"].isin(series_ids)]
    evaluated = pd.DataFrame()
    # Every verdict (expected value and band) only when the chart draws the band; reading every verdict
    # cost 100-165 ms of the page script at 50 x 365.
    if not charts.shows_band(points):
        evaluated = queries.flagged(root, datasource, metric, start, end)
        evaluated = evaluated[evaluated["series_id"].isin(series_ids)]
    if not len(evaluated):
        evaluated = queries.evaluated(root, datasource, metric, start, end)
        evaluated = evaluated[evaluated["series_id"].isin(series_ids)]
    previous = None
    if compare and len(points) and charts.shows_band(points):
        shift = timedelta(days=COMPARE_DAYS)
        earlier = queries.points(root, datasource, metric, start - shift, end - shift)
        earlier = earlier[earlier["series_id"].isin(series_ids)]
        previous = earlier.assign(ts=earlier["ts"] + pd.Timedelta(days=COMPARE_DAYS))
    return ChartData(points, evaluated, previous)


def to_csv(data: ChartData, *, datasource: str, metric: str) -> bytes:
    """The chart's points as CSV, one row per drawn point (series, day), oldest first.

    Columns: ``datasource, metric, series``, one column per label key, ``ts`` (ISO 8601, UTC),
    ``value``, then what the chart shows about that point: ``expected, lower, upper`` (where the
    chart drew them or an anomaly's tooltip shows them), ``anomaly`` (true where an anomaly mark is
    drawn) and ``value_week_earlier`` with the comparison on. Values are written in full precision.

    >>> ts = pd.to_datetime(["2026-01-01", "2026-01-02"], utc=True)
    >>> points = pd.DataFrame({"ts": ts, "value": [1.0, 9.0], "label_text": ["r=JP"] * 2, "series_id": ["a"] * 2,
    ...                        "labels": [{"r": "JP"}] * 2})
    >>> flagged = points.iloc[[1]].assign(expected=2.0, lower=1.0, upper=3.0, is_anomaly=True)
    >>> print(to_csv(ChartData(points, flagged), datasource="ds", metric="m").decode())
    datasource,metric,series,r,ts,value,expected,lower,upper,anomaly
    ds,m,r=JP,JP,2026-01-01T00:00:00Z,1.0,,,,False
    ds,m,r=JP,JP,2026-01-02T00:00:00Z,9.0,2.0,1.0,3.0,True
    <BLANKLINE>
    """
    points = data.points
    keys = sorted({key for labels in points["labels"] for key in (labels or {})})
    frame = pd.DataFrame(
        {
            "datasource": datasource,
            "metric": metric,
            "series": points[charts.SERIES].to_numpy(),
            "series_id": points["series_id"].to_numpy(),
        }
    )
    for key in keys:
        frame[key] = [(labels or {}).get(key) for labels in points["labels"]]
    frame["ts"] = points["ts"].to_numpy()
    frame["value"] = points["value"].to_numpy()
    verdicts = data.evaluated
    if len(verdicts):
        verdicts = verdicts[["series_id", "ts", "expected", "lower", "upper", "is_anomaly"]]
        frame = frame.merge(verdicts, on=["series_id", "ts"], how="left")
        frame = frame.rename(columns={"is_anomaly": "anomaly"})
        frame["anomaly"] = frame["anomaly"].eq(True)  # no verdict for that point: not an anomaly
    if data.previous is not None:
        earlier = data.previous[["series_id", "ts", "value"]].rename(columns={"value": "value_week_earlier"})
        frame = frame.merge(earlier, on=["series_id", "ts"], how="left")
    frame = frame.sort_values(["ts", "series"], kind="stable").drop(columns="series_id")
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode("utf-8")
