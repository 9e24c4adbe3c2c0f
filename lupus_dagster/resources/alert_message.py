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
from dataclasses import dataclass
from typing import Any

from lupus_store.incidents.alert import Alert, app_url, chart_link

__all__ = ["Alert", "AlertMessage", "app_url", "chart_link"]

# Slack accepts at most 50 blocks per message and 3000 characters per text block.
MAX_ALERT_BLOCKS = 40
MAX_BLOCK_CHARS = 2900


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


def _num(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.4g}"


def _escape(text: str) -> str:
    """Slack mrkdwn control characters (label values are user text)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
