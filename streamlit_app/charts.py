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

from streamlit_app.formats import AXIS_FORMATS, TOOLTIP_FORMATS, Kind

SERIES = "label_text"
SERIES_PICK = "series_pick"
ANOMALY_PICK = "anomaly_pick"
ANOMALY_COLOR = "#d62728"
# Series colours: no reds or pinks, which are the anomaly marks' colour (Vega's and Streamlit's default
# palettes both have red and pink among their first four, so ordinary series looked like anomalies).
# Hues between 25 and 290 degrees (orange through purple) plus a grey; repeated beyond 12 series.
PALETTE = (
    "#1f77b4", "#2ca02c", "#9467bd", "#17becf", "#ff7f0e", "#bcbd22",
    "#7f7f7f", "#aec7e8", "#98df8a", "#c5b0d5", "#9edae5", "#ffbb78",
)  # fmt: skip
# Above this many series, 2 x N overlapping bands are unreadable and triple the data the
# browser draws; the page asks to narrow the label filters instead.
BAND_SERIES_LIMIT = 10
LEGEND_COLUMNS = 4
LEGEND_LIMIT = 60  # legend entries shown; more become "…N entries"
EXPECTED_DASH = [4, 3]
PREVIOUS_DASH = [1, 2]
# Annotation rules by kind (streamlit_app/annotations.py): none red (anomalies) and dashed, unlike series lines.
ANNOTATION_COLORS = {
    "check": "#e6550d", "freshness": "#b8860b", "no_data": "#8c564b", "incident": "#555555", "release": "#3182bd",
    "marker": "#756bb1",
}  # fmt: skip
ANNOTATION_DASH = [6, 3]

Spec = dict[str, Any]


def _x(day_format: str) -> Spec:
    return {
        "field": "ts",
        "type": "temporal",
        "title": None,
        "scale": {"type": "utc"},
        # A utc scale formats its axis in UTC; flush labels keep the last date inside the fixed-size chart.
        "axis": {"format": day_format, "labelOverlap": True, "labelFlush": True},
    }


def _y(field: str, kind: Kind, domain: list[float] | None = None) -> Spec:
    scale: Spec = {"zero": False} if domain is None else {"zero": False, "domain": domain}
    return {
        "field": field,
        "type": "quantitative",
        "title": None,
        "scale": scale,
        "axis": {"format": AXIS_FORMATS[kind]},
    }


def _color(**legend: Any) -> Spec:
    return {
        "field": SERIES,
        "type": "nominal",
        "title": "series",
        "scale": {"range": list(PALETTE)},
        "legend": legend or None,
    }


def y_domain(values: pd.Series, kind: Kind) -> list[float] | None:
    """An explicit y domain around a constant series (None otherwise: Vega fits the data).

    Vega gives a flat line a zero-width domain, whose tick labels came out as "500,000000"; a
    band of +-5% (or +-1, +-1 percentage point around zero) gives readable ticks instead.

    >>> y_domain(pd.Series([500.0, 500.0]), "count"), y_domain(pd.Series([0.0]), "percent")
    ([475.0, 525.0], [-0.01, 0.01])
    >>> y_domain(pd.Series([1.0, 2.0]), "number") is None
    True
    """
    present = values.dropna()
    if not len(present):
        return None
    low, high = float(present.min()), float(present.max())
    if high - low > 1e-9 * max(1.0, abs(high)):
        return None
    pad = abs(low) * 0.05 if low else (0.01 if kind == "percent" else 1.0)
    return [low - pad, high + pad]


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


def detail_chart(
    points: pd.DataFrame,
    evaluated: pd.DataFrame | None = None,
    *,
    kind: Kind = "number",
    previous: pd.DataFrame | None = None,
    annotations: pd.DataFrame | None = None,
    height: int = 380,
    legend_columns: int = LEGEND_COLUMNS,
) -> Spec:
    """The chart detail: lines per series; expected line, lower/upper band and anomaly marks when evaluated;
    vertical rules for ``annotations`` (``ts, kind, label, text``: failed checks, incidents, releases).

    ``points`` has ``ts, value, label_text``; ``evaluated`` (detector verdicts, may be empty)
    has ``ts, value, expected, lower, upper, is_anomaly, score, detector, label_text``;
    ``previous`` (optional) has the same columns as ``points`` with ``ts`` already moved onto the
    shown period (e.g. the week before, drawn dotted). Axes and tooltips format values by ``kind``
    (see :mod:`streamlit_app.formats`). Clicking a line selects its series (selection
    ``series_pick``), clicking an anomaly selects it (``anomaly_pick``); dragging and the mouse
    wheel pan and zoom the time axis.

    >>> ts = pd.to_datetime(["2026-01-01", "2026-01-02"], utc=True)
    >>> points = pd.DataFrame({"ts": ts, "value": [1.0, 9.0], "label_text": ["r=JP", "r=JP"]})
    >>> spec = detail_chart(points, kind="percent")
    >>> [layer["name"] for layer in spec["layer"]], spec["datasets"]["series"]["ts"].tolist()
    (['series'], [1767225600000.0, 1767312000000.0])
    >>> spec["layer"][0]["encoding"]["y"]["axis"]["format"]
    '~%'
    """
    n_series = points[SERIES].nunique()
    columns = min(legend_columns, max(n_series, 1))
    color = _color(orient="bottom", columns=columns, symbolLimit=LEGEND_LIMIT, labelLimit=220)
    x = _x("%Y-%m-%d")
    datasets = {"series": _layer(points, ["ts", "value", SERIES])}
    banded = evaluated is not None and len(evaluated) > 0 and shows_band(points)
    if banded:
        band_rows = evaluated.dropna(subset=["lower", "upper"])
        if len(band_rows):
            datasets["band"] = _layer(band_rows, ["ts", "lower", "upper", SERIES])
        expected_rows = evaluated.dropna(subset=["expected"])
        if len(expected_rows):
            datasets["expected"] = _layer(expected_rows, ["ts", "expected", SERIES])
    if previous is not None and len(previous):
        datasets["previous"] = _layer(previous, ["ts", "value", SERIES])
    drawn = [frame[c] for frame in datasets.values() for c in ("value", "lower", "upper", "expected") if c in frame]
    domain = y_domain(pd.concat(drawn), kind)
    layers: list[Spec] = []
    if "band" in datasets:
        layers.append(
            {
                "name": "band",
                "data": _data("band"),
                "mark": {"type": "area", "opacity": 0.15},
                "encoding": {"x": x, "y": _y("lower", kind, domain), "y2": {"field": "upper"}, "color": color},
            }
        )
    if "expected" in datasets:
        layers.append(
            {
                "name": "expected",
                "data": _data("expected"),
                "mark": {"type": "line", "strokeDash": EXPECTED_DASH, "strokeWidth": 1.2, "opacity": 0.8},
                "encoding": {"x": x, "y": _y("expected", kind, domain), "color": color},
            }
        )
    if "previous" in datasets:
        layers.append(
            {
                "name": "previous",
                "data": _data("previous"),
                "mark": {"type": "line", "strokeDash": PREVIOUS_DASH, "strokeWidth": 1.4, "opacity": 0.55},
                "encoding": {"x": x, "y": _y("value", kind, domain), "color": color},
            }
        )
    layers.append(
        {
            "name": "series",
            "data": _data("series"),
            "mark": {"type": "line", "strokeWidth": 1.6, "interpolate": "linear"},
            "params": [
                {
                    "name": SERIES_PICK,
                    "select": {"type": "point", "fields": [SERIES], "on": "click", "clear": "dblclick"},
                },
                {"name": "zoom", "select": {"type": "interval", "encodings": ["x"]}, "bind": "scales"},
            ],
            "encoding": {
                "x": x,
                "y": _y("value", kind, domain),
                "color": color,
                "opacity": {"condition": {"param": SERIES_PICK, "value": 1.0}, "value": 0.25},
                # The series only: Vega picks a line by its first point, so a date and value here showed the
                # first day's point wherever the pointer was, and Vega evaluated that 3-field tooltip for every
                # point (about 150 ms of the first render at 50 x 365). Anomaly marks keep the full tooltip.
                "tooltip": [{"field": SERIES, "type": "nominal", "title": "series"}],
            },
        }
    )
    if annotations is not None and len(annotations):
        datasets["annotation"] = _layer(annotations, ["ts", "kind", "label", "text"])
        # One label per day (events of one day share the rule's place: "incident #3 · release").
        by_day = annotations.groupby("ts", sort=True).agg(label=("label", " · ".join), text=("text", "\n".join))
        datasets["annotation_label"] = _layer(by_day.reset_index(), ["ts", "label", "text"])
        layers += _annotation_layers(x)
    if evaluated is not None and len(evaluated) and evaluated["is_anomaly"].any():
        flagged = evaluated[evaluated["is_anomaly"]]
        datasets["anomaly"] = _layer(flagged, ["ts", "value", "expected", "score", "detector", SERIES])
        number = TOOLTIP_FORMATS[kind]
        layers.append(
            {
                "name": "anomaly",
                "data": _data("anomaly"),
                "mark": {
                    "type": "point",
                    "shape": "diamond",
                    "filled": True,
                    "size": 110,
                    "color": ANOMALY_COLOR,
                    "opacity": 0.95,
                },
                "params": [
                    {"name": ANOMALY_PICK, "select": {"type": "point", "fields": [SERIES, "ts"], "on": "click"}}
                ],
                "encoding": {
                    "x": x,
                    "y": _y("value", kind, domain),
                    "tooltip": [
                        {"field": SERIES, "type": "nominal", "title": "series"},
                        {"field": "ts", "type": "temporal", "format": "%Y-%m-%d", "title": "day"},
                        {"field": "value", "type": "quantitative", "format": number},
                        {"field": "expected", "type": "quantitative", "format": number},
                        {"field": "score", "type": "quantitative", "format": TOOLTIP_FORMATS["number"]},
                        {"field": "detector", "type": "nominal"},
                    ],
                },
            }
        )
    spec = _chart(layers, datasets, height=height)
    layout = _fixed_layout(
        pd.concat(drawn),
        n_series,
        columns,
        banded="band" in datasets or "expected" in datasets,
        height=height,
        kind=kind,
    )
    return spec | layout | {"config": spec["config"] | layout["config"]}


def _annotation_layers(x: Spec) -> list[Spec]:
    """A dashed vertical rule per annotation, coloured by kind, with its short label at the top of the plot."""
    stroke = {
        "field": "kind",
        "type": "nominal",
        "scale": {"domain": list(ANNOTATION_COLORS), "range": list(ANNOTATION_COLORS.values())},
        "legend": None,
    }
    tooltip = [{"field": "text", "type": "nominal", "title": "event"}]
    return [
        {
            "name": "annotation",
            "data": _data("annotation"),
            "mark": {"type": "rule", "strokeDash": ANNOTATION_DASH, "strokeWidth": 2, "opacity": 0.85},
            "encoding": {"x": x, "stroke": stroke, "tooltip": tooltip},
        },
        {
            "name": "annotation_label",
            "data": _data("annotation_label"),
            "mark": {"type": "text", "align": "left", "baseline": "top", "dx": 3, "fontSize": 10, "color": "#444"},
            "encoding": {"x": x, "y": {"value": 2}, "text": {"field": "label"}, "tooltip": tooltip},
        },
    ]


def _fixed_layout(
    y_values: pd.Series, n_series: int, columns: int, *, banded: bool, height: int, kind: Kind = "number"
) -> Spec:
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
    if kind == "percent":  # labels in percent: "31.5%"
        low, high = low * 100, high * 100
    biggest = max(abs(low), abs(high))
    chars = len(f"{biggest:,.0f}") + (3 if high - low < 10 else 0) if biggest >= 1 else 6
    chars += 2 * (kind == "percent")  # "%" is about two digits wide
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


def small_chart(
    points: pd.DataFrame, anomalies: pd.DataFrame | None = None, *, kind: Kind = "number", height: int = 140
) -> Spec:
    """A small multiple for the explorer: one thin line per series, anomaly dots, no legend or axes titles."""
    x = _x("%m-%d")
    datasets = {"series": _layer(points, ["ts", "value", SERIES])}
    domain = y_domain(points["value"], kind)
    layers: list[Spec] = [
        {
            "name": "series",
            "data": _data("series"),
            "mark": {"type": "line", "strokeWidth": 1.2},
            "encoding": {"x": x, "y": _y("value", kind, domain), "color": _color()},
        }
    ]
    if anomalies is not None and len(anomalies):
        datasets["anomaly"] = _layer(anomalies, ["ts", "value", SERIES])
        layers.append(
            {
                "name": "anomaly",
                "data": _data("anomaly"),
                "mark": {"type": "point", "filled": True, "size": 40, "color": ANOMALY_COLOR},
                "encoding": {"x": x, "y": _y("value", kind, domain)},
            }
        )
    return _chart(layers, datasets, height=height)


# What each kind of mark means, drawn like the marks (the chart's own legend names the series by colour).
_LEGEND_STYLE = """<style>
.lupus-marks { display: flex; flex-wrap: wrap; gap: 0.25rem 1.25rem; font-size: 0.8rem; opacity: 0.85; }
.lupus-marks span.item { display: inline-flex; align-items: center; gap: 0.4rem; }
.lupus-marks i { display: inline-block; width: 26px; border-top: 2px solid #7f7f7f; }
.lupus-marks i.expected { border-top-style: dashed; }
.lupus-marks i.previous { border-top-style: dotted; }
.lupus-marks i.band { height: 10px; border: none; background: rgba(31, 119, 180, 0.2); }
.lupus-marks i.anomaly { width: 9px; height: 9px; border: none; transform: rotate(45deg); }
.lupus-marks i.annotation { width: 0; height: 14px; border-top: none; border-left: 2px dashed #e6550d; }
</style>"""
_LEGEND_ENTRIES = {
    "series": "value (one colour per series)",
    "expected": "expected value (detector)",
    "band": "expected range (detector's band)",
    "previous": "same days a week earlier",
    "anomaly": "anomaly",
    "annotation": "event (failed check, late or missing data, incident, release, marker; hover for details)",
}


def mark_legend(spec: Spec) -> str:
    """HTML legend of the kinds of marks a :func:`detail_chart` spec draws (value, expected, band,
    a week earlier, anomaly), in that order.

    >>> ts = pd.to_datetime(["2026-01-01"], utc=True)
    >>> html = mark_legend(detail_chart(pd.DataFrame({"ts": ts, "value": [1.0], "label_text": ["(all)"]})))
    >>> 'data-mark="series"' in html, 'data-mark="anomaly"' in html
    (True, False)
    """
    items = []
    for name, text in _LEGEND_ENTRIES.items():
        if name in spec["datasets"]:
            style = f' style="background: {ANOMALY_COLOR}"' if name == "anomaly" else ""
            items.append(f'<span class="item" data-mark="{name}"><i class="{name}"{style}></i>{text}</span>')
    return f'{_LEGEND_STYLE}<div class="lupus-marks">{"".join(items)}</div>'
