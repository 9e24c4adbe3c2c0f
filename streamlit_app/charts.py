"""Vega-Lite chart specs: one line per series, the detector's expected line and band, anomaly marks.

The specs are plain dicts for ``st.vega_lite_chart``, with each layer's rows as a DataFrame in
``datasets`` (Streamlit sends them to the browser as Arrow). Building them through Altair cost
the chart page 150-200 ms per run, mostly Altair validating every chart object against the
Vega-Lite schema.

Charts receive only the columns they draw (a few numbers, the time and the series name), which
keeps the payload small enough for 100 series x 2 years. Each layer's dataset, and the layer
itself, is named after the layer (``series``, ``band``, ``expected``, ``anomaly``), so tests (and
people reading the chart's data) can tell the series lines, the band, the expected line and the
anomaly marks apart. (They used to tell by a ``layer`` column: 18,000 more strings for the browser
to decode at 50 x 365.)

The browser evaluates the Vega expressions of a chart with an interpreter (Streamlit's pages
forbid ``eval``), so every per-point expression costs it time on every one of the 18,000 points of
a 50 x 365 chart. Hence ``ts`` is sent as UTC epoch milliseconds and the data's date parsing is
switched off (``parse: null``): a number is already a valid time for the scale, and the parse was
one interpreted ``toDate`` per row.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

SERIES = "label_text"
SERIES_PICK = "series_pick"
ANOMALY_PICK = "anomaly_pick"
ANOMALY_COLOR = "#d62728"
# Above this many series, 2 x N overlapping bands are unreadable and triple the data the
# browser draws; the page asks to narrow the label filters instead.
BAND_SERIES_LIMIT = 10
LEGEND_COLUMNS = 4
LEGEND_LIMIT = 60  # legend entries shown; more become "…N entries"

Spec = dict[str, Any]


def _x(day_format: str) -> Spec:
    return {
        "field": "ts",
        "type": "temporal",
        "title": None,
        "scale": {"type": "utc"},
        "axis": {"format": day_format, "labelOverlap": True},  # a utc scale formats its axis in UTC
    }


def epoch_ms(ts: pd.Series) -> pd.Series:
    """UTC timestamps as float epoch milliseconds, the form Vega's time scales use without parsing.

    >>> epoch_ms(pd.Series(pd.to_datetime(["2026-01-02"], utc=True))).tolist()
    [1767312000000.0]
    """
    return ts.dt.tz_convert("UTC").dt.as_unit("ms").astype("int64").astype("float64")


def _layer(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    # A filtered frame's index would travel to the browser as one more Arrow column per row.
    out = frame.loc[:, columns].reset_index(drop=True)
    if "ts" in out.columns:
        out["ts"] = epoch_ms(out["ts"])
    return out


def _data(name: str) -> Spec:
    return {"name": name, "format": {"parse": None}}  # no per-row date parse: ts is epoch ms already


def _chart(layers: list[Spec], datasets: dict[str, pd.DataFrame], *, height: int) -> Spec:
    # Canvas and no per-mark ARIA: thousands of SVG nodes with labels made the browser the bottleneck.
    return {
        "height": height,
        "layer": layers,
        "datasets": datasets,
        "config": {"aria": False},
        "usermeta": {"embedOptions": {"renderer": "canvas"}},
    }


def detail_chart(points: pd.DataFrame, evaluated: pd.DataFrame | None = None, *, height: int = 380) -> Spec:
    """The chart detail: lines per series; expected line, lower/upper band and anomaly marks when evaluated.

    ``points`` has ``ts, value, label_text``; ``evaluated`` (detector verdicts, may be empty)
    has ``ts, value, expected, lower, upper, is_anomaly, score, detector, label_text``.
    Clicking a line selects its series (selection ``series_pick``), clicking an anomaly
    selects it (``anomaly_pick``); dragging and the mouse wheel pan and zoom the time axis.

    >>> ts = pd.to_datetime(["2026-01-01", "2026-01-02"], utc=True)
    >>> points = pd.DataFrame({"ts": ts, "value": [1.0, 9.0], "label_text": ["r=JP", "r=JP"]})
    >>> spec = detail_chart(points)
    >>> [layer["name"] for layer in spec["layer"]], spec["datasets"]["series"]["ts"].tolist()
    (['series'], [1767225600000.0, 1767312000000.0])
    """
    n_series = points[SERIES].nunique()
    columns = min(LEGEND_COLUMNS, max(n_series, 1))
    color = {
        "field": SERIES,
        "type": "nominal",
        "title": "series",
        "legend": {"orient": "bottom", "columns": columns, "symbolLimit": LEGEND_LIMIT, "labelLimit": 220},
    }
    x = _x("%Y-%m-%d")
    datasets = {"series": _layer(points, ["ts", "value", SERIES])}
    layers: list[Spec] = []
    if evaluated is not None and len(evaluated) and shows_band(points):
        band_rows = evaluated.dropna(subset=["lower", "upper"])
        if len(band_rows):
            datasets["band"] = _layer(band_rows, ["ts", "lower", "upper", SERIES])
            layers.append(
                {
                    "name": "band",
                    "data": _data("band"),
                    "mark": {"type": "area", "opacity": 0.15},
                    "encoding": {
                        "x": x,
                        "y": {"field": "lower", "type": "quantitative"},
                        "y2": {"field": "upper"},
                        "color": color,
                    },
                }
            )
        expected_rows = evaluated.dropna(subset=["expected"])
        if len(expected_rows):
            datasets["expected"] = _layer(expected_rows, ["ts", "expected", SERIES])
            layers.append(
                {
                    "name": "expected",
                    "data": _data("expected"),
                    "mark": {"type": "line", "strokeDash": [4, 3], "strokeWidth": 1.2, "opacity": 0.8},
                    "encoding": {"x": x, "y": {"field": "expected", "type": "quantitative"}, "color": color},
                }
            )
    layers.append(
        {
            "name": "series",
            "data": _data("series"),
            "mark": {"type": "line", "strokeWidth": 1.6, "interpolate": "linear"},
            "params": [
                {"name": SERIES_PICK, "select": {"type": "point", "fields": [SERIES], "on": "click", "clear": "dblclick"}},
                {"name": "zoom", "select": {"type": "interval", "encodings": ["x"]}, "bind": "scales"},
            ],
            "encoding": {
                "x": x,
                "y": {"field": "value", "type": "quantitative", "title": None, "scale": {"zero": False}},
                "color": color,
                "opacity": {"condition": {"param": SERIES_PICK, "value": 1.0}, "value": 0.25},
                # The series only: Vega picks a line by its first point, so a date and value here showed the
                # first day's point wherever the pointer was, and Vega evaluated that 3-field tooltip for every
                # point (about 150 ms of the first render at 50 x 365). Anomaly marks keep the full tooltip.
                "tooltip": [{"field": SERIES, "type": "nominal", "title": "series"}],
            },
        }
    )
    if evaluated is not None and len(evaluated) and evaluated["is_anomaly"].any():
        flagged = evaluated[evaluated["is_anomaly"]]
        datasets["anomaly"] = _layer(flagged, ["ts", "value", "expected", "score", "detector", SERIES])
        layers.append(
            {
                "name": "anomaly",
                "data": _data("anomaly"),
                "mark": {"type": "point", "shape": "diamond", "filled": True, "size": 110, "color": ANOMALY_COLOR, "opacity": 0.95},
                "params": [{"name": ANOMALY_PICK, "select": {"type": "point", "fields": [SERIES, "ts"], "on": "click"}}],
                "encoding": {
                    "x": x,
                    "y": {"field": "value", "type": "quantitative"},
                    "tooltip": [
                        {"field": SERIES, "type": "nominal", "title": "series"},
                        {"field": "ts", "type": "temporal", "format": "%Y-%m-%d"},
                        {"field": "value", "type": "quantitative"},
                        {"field": "expected", "type": "quantitative"},
                        {"field": "score", "type": "quantitative"},
                        {"field": "detector", "type": "nominal"},
                    ],
                },
            }
        )
    drawn = [frame[c] for frame in datasets.values() for c in ("value", "lower", "upper", "expected") if c in frame]
    spec = _chart(layers, datasets, height=height)
    banded = "band" in datasets or "expected" in datasets
    layout = _fixed_layout(pd.concat(drawn), n_series, columns, banded=banded, height=height)
    return spec | layout | {"config": spec["config"] | layout["config"]}


def _fixed_layout(y_values: pd.Series, n_series: int, columns: int, *, banded: bool, height: int) -> Spec:
    """Size and padding of the detail chart, fixed in advance instead of fitted by Vega.

    Streamlit's default sizing (``autosize: fit-x``) lays the chart out at the column's width,
    measures the y axis and the legend, shrinks the plot to fit and encodes every point again: at
    50 x 365 that second pass was about a third of Vega's work. Here the padding holds the y axis
    (its width estimated from the values; longer labels are cut) and, below the plot, the x axis
    and the legend (its height from the number of legend rows; rows are taller when the legend
    also shows the band), so one pass draws the chart. The plot keeps ``height`` pixels.

    >>> layout = _fixed_layout(pd.Series([0.0, 8000.0]), 50, 4, banded=False, height=380)
    >>> layout["padding"], layout["height"]
    ({'left': 47, 'right': 12, 'top': 6, 'bottom': 367}, 753)
    """
    rows = -(-min(n_series, LEGEND_LIMIT) // columns) + (n_series > LEGEND_LIMIT)  # "…N entries" takes a row
    # Measured in Chromium with Streamlit's theme: x axis 27 px, 18 px gap, legend title 33 px, rows of
    # 20 px (28 px with the band's symbol); 16 px to spare.
    bottom = 94 + (30 if banded else 21) * rows
    low, high = (float(y_values.min()), float(y_values.max())) if len(y_values) else (0.0, 1.0)
    biggest = max(abs(low), abs(high))
    chars = len(f"{biggest:,.0f}") + (3 if high - low < 10 else 0) if biggest >= 1 else 6
    left = min(96, max(36, 7 * (chars + (low < 0)) + 12))
    padding = {"left": left, "right": 12, "top": 6, "bottom": bottom}
    return {
        "autosize": {"type": "none", "contains": "padding"},
        "padding": padding,
        "height": height + padding["top"] + bottom,
        "config": {"axisY": {"labelLimit": left - 12}},
    }


def loading_chart(*, height: int = 380) -> Spec:
    """A frame of the chart's height saying the chart is loading, shown while the page reads the store.

    Sent before the store reads, it makes a first-time visitor's browser load and compile the chart
    code (Vega, about 0.3 s) while the server reads, instead of after the data has arrived; it also
    keeps the page from jumping when the chart arrives.
    """
    return {
        "height": height,
        "datasets": {"loading": pd.DataFrame({"text": ["Loading the chart…"]})},
        "data": {"name": "loading"},
        "mark": {"type": "text", "color": "gray", "fontSize": 13},
        "encoding": {
            "text": {"field": "text", "type": "nominal"},
            "x": {"value": {"expr": "width / 2"}},
            "y": {"value": {"expr": "height / 2"}},
        },
        "config": {"aria": False, "view": {"stroke": None}},
    }


def shows_band(points: pd.DataFrame) -> bool:
    """Whether :func:`detail_chart` draws the expected line and band for these points."""
    return points[SERIES].nunique() <= BAND_SERIES_LIMIT


def small_chart(points: pd.DataFrame, anomalies: pd.DataFrame | None = None, *, height: int = 140) -> Spec:
    """A small multiple for the explorer: one thin line per series, anomaly dots, no legend or axes titles."""
    x = _x("%m-%d")
    datasets = {"series": _layer(points, ["ts", "value", SERIES])}
    layers: list[Spec] = [
        {
            "name": "series",
            "data": _data("series"),
            "mark": {"type": "line", "strokeWidth": 1.2},
            "encoding": {
                "x": x,
                "y": {"field": "value", "type": "quantitative", "title": None, "scale": {"zero": False}},
                "color": {"field": SERIES, "type": "nominal", "legend": None},
            },
        }
    ]
    if anomalies is not None and len(anomalies):
        datasets["anomaly"] = _layer(anomalies, ["ts", "value", SERIES])
        layers.append(
            {
                "name": "anomaly",
                "data": _data("anomaly"),
                "mark": {"type": "point", "filled": True, "size": 40, "color": ANOMALY_COLOR},
                "encoding": {"x": x, "y": {"field": "value", "type": "quantitative"}},
            }
        )
    return _chart(layers, datasets, height=height)
