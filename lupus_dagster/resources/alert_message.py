"""What an alert message says: the alerts of one product and day, as text, Slack blocks or JSON.

One message carries every alert of one product and day (anomalous series and failed checks),
so a bad day is one post in the channel, not fifty.

Example:
    >>> alert = Alert(kind="anomaly", metric="rows.count", labels={"region": "JP"}, value=5.0,
    ...               expected=100.0, lower=80.0, upper=120.0, score=-6.2,
    ...               link=chart_link("ds", "rows.count", {"region": "JP"}, "2026-01-10", base_url="http://ui"))
    >>> message = AlertMessage(product="shop", datasource="ds", day="2026-01-10", alerts=[alert])
    >>> print(message.text())
    Lupus: 1 anomaly in shop (ds) on 2026-01-10
    • rows.count {region=JP}: value 5 (expected 100, band 80 – 120), score -6.2 http://ui/chart?datasource=ds&metric=rows.count&label.region=JP&start=2025-12-11&end=2026-01-11
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote, urlencode

DEFAULT_APP_URL = "http://localhost:8501"
# Slack accepts at most 50 blocks per message and 3000 characters per text block.
MAX_ALERT_BLOCKS = 40
MAX_BLOCK_CHARS = 2900
CHART_DAYS_BEFORE = 30


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
    """One alert: an anomalous point of a series, or a failed check (``kind`` ``check``/``freshness``)."""

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

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict: NaN becomes ``None`` (PostgreSQL's JSON and most receivers reject NaN)."""
        return {key: _json_safe(value) for key, value in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Alert:
        return cls(**{key: data.get(key) for key in cls.__dataclass_fields__ if key in data})

    def summary(self) -> str:
        """One line without the link, e.g. ``rows.count {region=JP}: value 5 (expected 100, band 80 – 120), score -6.2``."""
        if self.kind == "anomaly":
            return f"{self.metric}{_labels_text(self.labels)}: {_band_text(self)}"
        what = "freshness check" if self.kind == "freshness" else "check"
        line = f"{what} {self.check or self.metric} failed"
        return f"{line}: {self.detail}" if self.detail else line


@dataclass
class AlertMessage:
    """Every alert of one product and day."""

    product: str
    datasource: str
    day: str
    alerts: list[Alert]

    def title(self) -> str:
        anomalies = sum(alert.kind == "anomaly" for alert in self.alerts)
        checks = len(self.alerts) - anomalies
        parts = []
        if anomalies:
            parts.append(f"{anomalies} {'anomaly' if anomalies == 1 else 'anomalies'}")
        if checks:
            parts.append(f"{checks} failed {'check' if checks == 1 else 'checks'}")
        return f"Lupus: {' and '.join(parts) or 'no alerts'} in {self.product} ({self.datasource}) on {self.day}"

    def text(self) -> str:
        """Plain text: the title, then one line per alert with its link (console, file, Slack fallback)."""
        lines = [self.title()]
        for alert in self.alerts:
            line = f"• {alert.summary()}"
            lines.append(f"{line} {alert.link}" if alert.link else line)
        return "\n".join(lines)

    def slack_payload(self) -> dict[str, Any]:
        """A Slack incoming-webhook payload: ``text`` (notification fallback) and ``blocks``."""
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": self.title()[:150]}},
        ]
        for alert in self.alerts[:MAX_ALERT_BLOCKS]:
            text = f"*{_escape(alert.summary())}*"
            if alert.previous_severity is not None:
                text += f"\n_severity rose from {_num(alert.previous_severity)}_"
            if alert.link:
                text += f"\n<{alert.link}|Open chart>"
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:MAX_BLOCK_CHARS]}})
        hidden = len(self.alerts) - MAX_ALERT_BLOCKS
        if hidden > 0:
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"…and {hidden} more"}]})
        return {"text": self.text()[:MAX_BLOCK_CHARS], "blocks": blocks}

    def webhook_payload(self) -> dict[str, Any]:
        """The generic JSON document: product, datasource, day, title and every alert in full."""
        return {
            "product": self.product,
            "datasource": self.datasource,
            "day": self.day,
            "title": self.title(),
            "alerts": [alert.to_json() for alert in self.alerts],
        }


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _num(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.4g}"


def _labels_text(labels: dict[str, str] | None) -> str:
    if not labels:
        return ""
    return " {" + ", ".join(f"{key}={value}" for key, value in sorted(labels.items())) + "}"


def _band_text(alert: Alert) -> str:
    text = f"value {_num(alert.value)} (expected {_num(alert.expected)}"
    if alert.lower is not None or alert.upper is not None:
        text += f", band {_num(alert.lower)} – {_num(alert.upper)}"
    return f"{text}), score {_num(alert.score)}"


def _escape(text: str) -> str:
    """Slack mrkdwn control characters (label values are user text)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
