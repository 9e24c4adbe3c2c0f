"""Altair chart builders: one line per series, the detector's expected line and band, anomaly marks.

Charts receive only the columns they draw (a few numbers, a timestamp and the series
name), which keeps the payload sent to the browser small enough for 100 series x 2 years.
Every layer carries a ``layer`` field so tests (and people reading the chart's data) can
tell the series lines, the band, the expected line and the anomaly marks apart.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

SERIES = "label_text"
SERIES_PICK = "series_pick"
ANOMALY_PICK = "anomaly_pick"
ANOMALY_COLOR = "#d62728"
# Above this many series, 2 x N overlapping bands are unreadable and triple the data the
# browser draws; the page asks to narrow the label filters instead.
BAND_SERIES_LIMIT = 10

_X = alt.X("ts:T", title=None, scale=alt.Scale(type="utc"), axis=alt.Axis(format="%Y-%m-%d", labelOverlap=True))


def _layer(frame: pd.DataFrame, columns: list[str], name: str) -> pd.DataFrame:
    # A filtered frame's index would travel to the browser as one more Arrow column per row.
    out = frame.loc[:, columns].reset_index(drop=True)
    out["layer"] = name
    return out


def detail_chart(points: pd.DataFrame, evaluated: pd.DataFrame | None = None, *, height: int = 380) -> alt.LayerChart:
    """The chart detail: lines per series; expected line, lower/upper band and anomaly marks when evaluated.

    ``points`` has ``ts, value, label_text``; ``evaluated`` (detector verdicts, may be empty)
    has ``ts, value, expected, lower, upper, is_anomaly, score, detector, label_text``.
    Clicking a line selects its series (selection ``series_pick``), clicking an anomaly
    selects it (``anomaly_pick``).
    """
    many = points[SERIES].nunique() > 12
    color = alt.Color(
        f"{SERIES}:N",
        title="series",
        legend=alt.Legend(orient="bottom", columns=4, symbolLimit=60, labelLimit=220)
        if many
        else alt.Legend(labelLimit=220),
    )
    pick = alt.selection_point(name=SERIES_PICK, fields=[SERIES], on="click", clear="dblclick")
    lines = (
        alt.Chart(_layer(points, ["ts", "value", SERIES], "series"))
        .mark_line(strokeWidth=1.6, interpolate="linear")
        .encode(
            x=_X,
            y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
            color=color,
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.25)),
            # The series only: Vega picks a line by its first point, so a date and value here showed the
            # first day's point wherever the pointer was, and Vega evaluated that 3-field tooltip for every
            # point (about 150 ms of the first render at 50 x 365). Anomaly marks keep the full tooltip.
            tooltip=[alt.Tooltip(f"{SERIES}:N", title="series")],
        )
        .add_params(pick)
    )
    layers: list[alt.Chart] = []
    if evaluated is not None and len(evaluated) and shows_band(points):
        band_rows = evaluated.dropna(subset=["lower", "upper"])
        if len(band_rows):
            layers.append(
                alt.Chart(_layer(band_rows, ["ts", "lower", "upper", SERIES], "band"))
                .mark_area(opacity=0.15)
                .encode(x=_X, y="lower:Q", y2="upper:Q", color=color)
            )
        expected_rows = evaluated.dropna(subset=["expected"])
        if len(expected_rows):
            layers.append(
                alt.Chart(_layer(expected_rows, ["ts", "expected", SERIES], "expected"))
                .mark_line(strokeDash=[4, 3], strokeWidth=1.2, opacity=0.8)
                .encode(x=_X, y="expected:Q", color=color)
            )
    layers.append(lines)
    if evaluated is not None and len(evaluated) and evaluated["is_anomaly"].any():
        flagged = evaluated[evaluated["is_anomaly"]]
        anomaly_pick = alt.selection_point(name=ANOMALY_PICK, fields=[SERIES, "ts"], on="click")
        layers.append(
            alt.Chart(_layer(flagged, ["ts", "value", "expected", "score", "detector", SERIES], "anomaly"))
            .mark_point(shape="diamond", filled=True, size=110, color=ANOMALY_COLOR, opacity=0.95)
            .encode(
                x=_X,
                y="value:Q",
                tooltip=[
                    alt.Tooltip(f"{SERIES}:N", title="series"),
                    alt.Tooltip("ts:T", format="%Y-%m-%d"),
                    "value:Q",
                    "expected:Q",
                    "score:Q",
                    "detector:N",
                ],
            )
            .add_params(anomaly_pick)
        )
    # Canvas and no per-mark ARIA: thousands of SVG nodes with labels made the browser the bottleneck.
    chart = alt.layer(*layers).properties(height=height, usermeta={"embedOptions": {"renderer": "canvas"}})
    return chart.interactive(bind_y=False).configure(aria=False)


def shows_band(points: pd.DataFrame) -> bool:
    """Whether :func:`detail_chart` draws the expected line and band for these points."""
    return points[SERIES].nunique() <= BAND_SERIES_LIMIT


def small_chart(points: pd.DataFrame, anomalies: pd.DataFrame | None = None, *, height: int = 140) -> alt.LayerChart:
    """A small multiple for the explorer: one thin line per series, anomaly dots, no legend or axes titles."""
    x = alt.X("ts:T", title=None, scale=alt.Scale(type="utc"), axis=alt.Axis(format="%m-%d", labelOverlap=True))
    lines = (
        alt.Chart(_layer(points, ["ts", "value", SERIES], "series"))
        .mark_line(strokeWidth=1.2)
        .encode(
            x=x,
            y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
            color=alt.Color(f"{SERIES}:N", legend=None),
        )
    )
    layers: list[alt.Chart] = [lines]
    if anomalies is not None and len(anomalies):
        layers.append(
            alt.Chart(_layer(anomalies, ["ts", "value", SERIES], "anomaly"))
            .mark_point(filled=True, size=40, color=ANOMALY_COLOR)
            .encode(x=x, y="value:Q")
        )
    return alt.layer(*layers).properties(height=height)
