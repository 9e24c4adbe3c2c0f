"""What an incident message says: as plain text, Slack blocks or a JSON document.

One message per new incident (and, when asked, one when it resolves), not one per series:
its headline, the top root-cause slices, then its alerts (strongest first) with chart links.

Example:
    >>> from datetime import date
    >>> alert = Alert(kind="anomaly", metric="rows.count", labels={"region": "JP"}, value=5.0,
    ...               expected=100.0, lower=80.0, upper=120.0, score=-6.2,
    ...               link=chart_link("ds", "rows.count", {"region": "JP"}, "2026-01-10", base_url="http://ui"))
    >>> message = IncidentMessage(event="opened", incident_id=7, product="shop", datasource="ds",
    ...     day=date(2026, 1, 10), status="open", severity="warning",
    ...     headline="shop: rows.count for region=JP 5 vs 100 expected (−95 %) on 2026-01-10", alerts=[alert])
    >>> print(message.text())
    Lupus incident #7 (warning): shop: rows.count for region=JP 5 vs 100 expected (−95 %) on 2026-01-10
    • rows.count {region=JP}: value 5 (expected 100, band 80 – 120), score -6.2 http://ui/chart?datasource=ds&metric=rows.count&label.region=JP&start=2025-12-11&end=2026-01-11&incident=7
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from lupus_store.incidents import IncidentView, Outgoing
from lupus_store.incidents.alert import Alert, app_url, chart_link

__all__ = ["Alert", "IncidentMessage", "app_url", "chart_link"]

# Slack accepts at most 50 blocks per message and 3000 characters per text block.
MAX_ALERT_BLOCKS = 40
MAX_BLOCK_CHARS = 2900
TOP_SLICES = 3
MIN_SHARE = 0.1  # smaller slices are noise in a chat message (they stay in the incident and the API)
PREFIX = {
    "opened": "Lupus incident",
    "unsilenced": "Silence ended, Lupus incident",
    "resolved": "Resolved: Lupus incident",
}


@dataclass
class IncidentMessage:
    """One message about one incident: ``event`` is ``opened``, ``unsilenced`` or ``resolved``."""

    event: str
    incident_id: int
    product: str
    datasource: str
    day: date
    status: str
    severity: str
    headline: str
    alerts: list[Alert]
    top_slices: list[dict[str, Any]] = field(default_factory=list)
    root_cause_text: str | None = None
    link: str | None = None

    @classmethod
    def from_outgoing(cls, outgoing: Outgoing) -> IncidentMessage:
        incident: IncidentView = outgoing.incident
        cause = incident.root_cause[0] if incident.root_cause else None
        return cls(
            event=outgoing.event, incident_id=incident.id, product=incident.product, datasource=incident.datasource,
            day=incident.start_day, status=incident.status, severity=incident.severity, headline=incident.headline,
            alerts=outgoing.alerts, top_slices=incident.top_slices[:TOP_SLICES],
            root_cause_text=_slices_text(cause) if cause else None, link=incident.link,
        )  # fmt: skip

    def chart_link(self, alert: Alert) -> str | None:
        """The alert's chart link naming this incident (``&incident=<id>``: the chart marks it, "around this incident")."""
        if not alert.link or "/chart?" not in alert.link or "incident=" in alert.link:
            return alert.link
        return f"{alert.link}&incident={self.incident_id}"

    def title(self) -> str:
        return f"{PREFIX.get(self.event, 'Lupus incident')} #{self.incident_id} ({self.severity}): {self.headline}"

    def text(self) -> str:
        """Plain text: the title, the top slices, then one line per alert with its link (console, file, fallback)."""
        lines = [self.title()]
        if self.root_cause_text:
            lines.append(f"Top slices: {self.root_cause_text}")
        for alert in self.alerts:
            line = f"• {alert.summary()}"
            lines.append(f"{line} {self.chart_link(alert)}" if alert.link else line)
        return "\n".join(lines)

    def slack_payload(self) -> dict[str, Any]:
        """A Slack incoming-webhook payload: ``text`` (notification fallback) and ``blocks``."""
        header = f"{PREFIX.get(self.event, 'Lupus incident')} #{self.incident_id} · {self.product} · {self.severity}"
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": header[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{_escape(self.headline)}*"[:MAX_BLOCK_CHARS]}},
        ]
        if self.root_cause_text:
            blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                       "text": f"Top slices: {_escape(self.root_cause_text)}"}})  # fmt: skip
        for alert in self.alerts[:MAX_ALERT_BLOCKS]:
            text = f"• {_escape(alert.summary())}"
            if alert.previous_severity is not None:
                text += f"\n_severity rose from {_num(alert.previous_severity)}_"
            if alert.link:
                text += f"\n<{self.chart_link(alert)}|Open chart>"
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:MAX_BLOCK_CHARS]}})
        hidden = len(self.alerts) - MAX_ALERT_BLOCKS
        footer = f"{len(self.alerts)} alert(s) · since {self.day.isoformat()} · status {self.status}"
        if hidden > 0:
            footer = f"…and {hidden} more · " + footer
        footer += f" · acknowledge: `lupus incidents ack {self.incident_id} --verdict real|false_alarm|expected`"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]})
        return {"text": self.text()[:MAX_BLOCK_CHARS], "blocks": blocks}

    def webhook_payload(self) -> dict[str, Any]:
        """The generic JSON document: the incident and every alert it names in full."""
        return {
            "event": self.event, "incident_id": self.incident_id, "product": self.product,
            "datasource": self.datasource, "day": self.day.isoformat(), "status": self.status,
            "severity": self.severity, "title": self.title(), "headline": self.headline,
            "top_slices": self.top_slices, "link": self.link, "alerts": [alert.to_json() for alert in self.alerts],
        }  # fmt: skip


def _slices_text(cause: dict[str, Any]) -> str | None:
    slices = cause.get("slices") or []
    if not slices:
        return None
    direction = "drop" if (cause.get("actual") or 0) < (cause.get("expected") or 0) else "rise"
    labels = cause.get("labels") or {}
    whole = f"{cause.get('metric')}" + (
        " {" + ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}" if labels else ""
    )
    parts = []
    shown = [item for item in slices[:TOP_SLICES] if abs(item["share"]) >= MIN_SHARE] or slices[:1]
    for item in shown:
        name = ", ".join(f"{k}={v}" for k, v in item["labels"].items())
        how = " (mix)" if item.get("effect") == "mix" else ""
        parts.append(f"{name} {item['share'] * 100:.0f} %{how}")
    return f"of the {whole} {direction}: " + ", ".join(parts)


def _num(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.4g}"


def _escape(text: str) -> str:
    """Slack mrkdwn control characters (label values are user text)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
