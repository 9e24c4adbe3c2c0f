"""One alert: an anomalous point of a series, a failed check, a late partition or a vanished segment.

This is the record every front door shares (the alert sensor writes it into the incident store,
``lupus backtest`` prints it, the API and the app read it back), so it lives here, free of
Dagster. The chat message that carries it is built in :mod:`lupus_dagster.resources.alert_message`.

Example:
    >>> alert = Alert(kind="anomaly", metric="ranking.recall", labels={"region": "JP"}, value=0.18, expected=0.63)
    >>> alert.summary()
    'ranking.recall {region=JP}: value 0.18 (expected 0.63), score n/a'
    >>> round(alert.relative_change, 3)
    -0.714
    >>> Alert.from_json(alert.to_json()) == alert
    True
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote, urlencode

DEFAULT_APP_URL = "http://localhost:8501"
CHART_DAYS_BEFORE = 30
KINDS = ("anomaly", "check", "freshness", "no_data")


def app_url() -> str:
    """The Streamlit app's base URL: ``LUPUS_APP_URL`` or ``http://localhost:8501``."""
    return (os.environ.get("LUPUS_APP_URL") or DEFAULT_APP_URL).rstrip("/")


def chart_link(
    datasource: str,
    metric: str | None,
    labels: dict[str, str] | None,
    day: date | str,
    *,
    base_url: str | None = None,
) -> str:
    """Deep link to the chart of one series around ``day`` (30 days before to the day after).

    >>> chart_link("ds", "age.mean", {"b": "x y", "a": "1"}, "2026-03-01", base_url="http://ui/")
    'http://ui/chart?datasource=ds&metric=age.mean&label.a=1&label.b=x%20y&start=2026-01-30&end=2026-03-02'
    """
    base = (base_url or app_url()).rstrip("/")
    day = date.fromisoformat(day) if isinstance(day, str) else day
    query: list[tuple[str, str]] = [("datasource", datasource)]
    if metric:
        query.append(("metric", metric))
    query += [(f"label.{key}", value) for key, value in sorted((labels or {}).items())]
    query += [
        ("start", (day - timedelta(days=CHART_DAYS_BEFORE)).isoformat()),
        ("end", (day + timedelta(days=1)).isoformat()),
    ]
    return f"{base}/chart?{urlencode(query, quote_via=quote)}"


@dataclass
class Alert:
    """What one alert says. ``kind``: ``anomaly``, ``check``, ``freshness`` or ``no_data``.

    ``concerns`` lists the metrics a failed check is about (they group with it into one
    incident); ``root_cause`` holds the ranked label slices of an aggregate series' anomaly
    (:func:`lupus_metrics.root_cause.explain`, as JSON).
    """

    kind: str
    metric: str | None
    labels: dict[str, str] = field(default_factory=dict)
    value: float | None = None
    expected: float | None = None
    lower: float | None = None
    upper: float | None = None
    score: float | None = None
    link: str | None = None
    check: str | None = None
    detail: str | None = None
    previous_severity: float | None = None  # set when this re-alerts a series whose severity rose
    concerns: list[str] = field(default_factory=list)
    root_cause: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict: NaN becomes ``None`` (PostgreSQL's JSON and most receivers reject NaN)."""
        return {key: _json_safe(value) for key, value in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Alert:
        values = {key: data.get(key) for key in cls.__dataclass_fields__ if data.get(key) is not None}
        return cls(**{"kind": "anomaly", "metric": None, **values})

    @property
    def relative_change(self) -> float | None:
        """``(value - expected) / |expected|``, or None when either is unknown or expected is 0."""
        if self.value is None or self.expected is None or self.expected == 0:
            return None
        return (self.value - self.expected) / abs(self.expected)

    def summary(self) -> str:
        """One line without the link, e.g. ``rows.count {region=JP}: value 5 (expected 100, band 80 – 120), score -6.2``."""
        if self.kind == "anomaly":
            return f"{self.metric}{labels_text(self.labels)}: {_band_text(self)}"
        if self.kind == "no_data":
            return f"no data for {labels_text(self.labels).strip() or 'the product'}" + (
                f": {self.detail}" if self.detail else ""
            )
        what = "freshness check" if self.kind == "freshness" else "check"
        line = f"{what} {self.check or self.metric} failed"
        return f"{line}: {self.detail}" if self.detail else line


def labels_text(labels: dict[str, str] | None) -> str:
    """`` {a=1, b=2}`` (sorted by key), or ``""`` for the overall group.

    >>> labels_text({"region": "JP", "k": "10"})
    ' {k=10, region=JP}'
    """
    if not labels:
        return ""
    return " {" + ", ".join(f"{key}={value}" for key, value in sorted(labels.items())) + "}"


def number(value: float | None) -> str:
    """A number for people: 4 significant digits, ``n/a`` when unknown.

    >>> number(0.18349), number(1500.0), number(None)
    ('0.1835', '1500', 'n/a')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.4g}"


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _band_text(alert: Alert) -> str:
    text = f"value {number(alert.value)} (expected {number(alert.expected)}"
    if alert.lower is not None or alert.upper is not None:
        text += f", band {number(alert.lower)} – {number(alert.upper)}"
    return f"{text}), score {number(alert.score)}"
