"""The incident board of Home and the Alerts page: incidents as rows a PM reads, and datasource health (pure).

Incidents come from the incident store (:class:`lupus_store.incidents.IncidentStore`, the same one the
alert sensor, the API and the CLI use). A board shows the open and acknowledged incidents first, then
those resolved recently, each with its headline, since when, the change from expected of its lead
alert, its top root-cause slices, status, verdict and owner team, and a link to the lead series' chart
that carries the incident and no range (``&incident=<id>``: the chart opens two weeks before to a week
after the incident, offers that range as the "around this incident" preset and marks the incident).

Health of a datasource, worst first: ``open incident`` (an incident not yet resolved), ``failed check``
(a check failed in the last :data:`HEALTH_DAYS` days), ``late`` (a freshness alert in that window, or
no point since :data:`LATE_AFTER_DAYS` days before today: the daily partition of yesterday is due by
today), ``fine``.

Example:
    >>> from datetime import date
    >>> health("ds", [], last_day=date(2026, 3, 31), today=date(2026, 4, 1))
    'fine'
    >>> health("ds", [], last_day=date(2026, 3, 20), today=date(2026, 4, 1))
    'late'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from urllib.parse import parse_qs, urlsplit

from lupus_store.incidents import IncidentStore, IncidentView
from lupus_store.incidents.headline import MIN_EXPLAINED_SHARE
from lupus_store.incidents.silences import alert_name
from lupus_store.metadata import MetadataDB
from streamlit_app import deep_links, formats

RESOLVED_DAYS = 90  # resolved incidents stay on the board while their last alert is this recent
RESOLVED_SHOWN = 10  # and at most this many of them
HEALTH_DAYS = 7
LATE_AFTER_DAYS = 2
HEALTH_ORDER = ("open incident", "failed check", "late", "fine")
# Badge colours of health and incident status. Red is the charts' anomaly colour and also what needs a person now.
HEALTH_COLORS = {"open incident": "#d62728", "failed check": "#ff7f0e", "late": "#bcbd22", "fine": "#2ca02c"}
STATUS_COLORS = {"open": "#d62728", "acknowledged": "#ff7f0e", "resolved": "#2ca02c"}
VERDICT_TEXT = {"real": "real problem", "false_alarm": "false alarm", "expected": "expected"}
SLICES_SHOWN = 3


@dataclass(frozen=True)
class BoardRow:
    """One incident as the board shows it."""

    id: int
    headline: str
    since: str
    change: str
    top_slices: str
    status: str
    verdict: str
    team: str
    datasource: str
    product: str
    chart: str | None

    def as_dict(self) -> dict[str, object]:
        return {
            "incident": f"#{self.id}", "headline": self.headline, "since": self.since, "change": self.change,
            "top slices": self.top_slices, "status": self.status, "verdict": self.verdict, "team": self.team,
            "datasource": self.datasource, "chart": "Open chart" if self.chart else "", "link": self.chart,
        }  # fmt: skip


def board_incidents(
    db: MetadataDB, datasources: Iterable[str], *, today: date, resolved_days: int = RESOLVED_DAYS
) -> list[IncidentView]:
    """Active incidents of ``datasources`` (newest first), then up to :data:`RESOLVED_SHOWN` resolved ones whose
    last alert is at most ``resolved_days`` old."""
    names = list(datasources)
    if not names:
        return []
    store = IncidentStore(db, upgrade=False)
    found = store.incidents(datasources=names, since=today - timedelta(days=resolved_days))
    active = [i for i in found if i.status != "resolved"]
    resolved = sorted((i for i in found if i.status == "resolved"), key=lambda i: (i.last_day, i.id), reverse=True)
    return active + resolved[:RESOLVED_SHOWN]


def board_row(incident: IncidentView, *, today: date) -> BoardRow:
    """The board's row of one incident."""
    lead = incident.lead
    change = formats.format_change(lead.alert.value, lead.alert.expected) if lead else ""
    return BoardRow(
        id=incident.id,
        headline=incident.headline,
        since=since_text(incident, today),
        change=change,
        top_slices=slices_text(incident),
        status=incident.status,
        verdict=VERDICT_TEXT.get(incident.verdict or "", incident.verdict or ""),
        team=incident.team or "",
        datasource=incident.datasource,
        product=incident.product,
        chart=incident_chart_link(incident),
    )


def since_text(incident: IncidentView, today: date) -> str:
    """``2026-02-28 (32 days ago)``, with the last day for incidents that lasted several days.

    >>> from datetime import datetime, UTC
    >>> from lupus_store.incidents import IncidentView
    >>> view = IncidentView(1, "p", "ds", None, date(2026, 3, 1), date(2026, 3, 3), "open", "warning", 1.0, "h",
    ...                     [], None, None, None, None, None, None, 0, datetime.now(UTC))
    >>> since_text(view, date(2026, 3, 4))
    '2026-03-01 (3 days ago), through 2026-03-03'
    """
    days = (today - incident.start_day).days
    ago = "today" if days == 0 else ("1 day ago" if days == 1 else f"{days} days ago")
    text = f"{incident.start_day.isoformat()} ({ago})"
    if incident.last_day > incident.start_day:
        text += f", through {incident.last_day.isoformat()}"
    return text


def slices_text(incident: IncidentView, top: int = SLICES_SHOWN) -> str:
    """The top root-cause slices of the incident's strongest explained aggregate, e.g.
    ``ranking.ndcg drop: region=JP 95 %, region=DE 5 %``; empty without root cause."""
    if not incident.root_cause:
        return ""
    cause = incident.root_cause[0]
    slices = cause.get("slices") or []
    if not slices:
        return ""
    direction = "drop" if (cause.get("actual") or 0) < (cause.get("expected") or 0) else "rise"
    parts = [f"{segment(item['labels'])} {item['share'] * 100:.0f} %" for item in slices[:top]]
    return f"{cause.get('metric') or ''} {direction}: {', '.join(parts)}".strip()


def root_cause_sentences(incident: IncidentView, metric: str) -> list[str]:
    """ "region=JP explains 95 % of the ranking.ndcg drop" for each aggregate of ``metric`` the incident explains
    (its top slice explains at least the share the headline asks for); otherwise what the top slices explain.

    Labels of the aggregate (``k=10``) follow in parentheses.
    """
    out = []
    for cause in incident.root_cause:
        slices = cause.get("slices") or []
        if cause.get("metric") != metric or not slices:
            continue
        top = slices[0]
        direction = "drop" if (cause.get("actual") or 0) < (cause.get("expected") or 0) else "rise"
        labels = cause.get("labels") or {}
        whole = f"the {metric} {direction}" + (f" ({segment(labels)})" if labels else "")
        if top["share"] >= MIN_EXPLAINED_SHARE:
            mix = " (through its share of the support)" if top.get("effect") == "mix" else ""
            out.append(f"{segment(top['labels'])} explains {top['share'] * 100:.0f} % of {whole}{mix}")
        else:
            parts = ", ".join(f"{segment(s['labels'])} {s['share'] * 100:.0f} %" for s in slices[:SLICES_SHOWN])
            out.append(f"no single slice explains {whole}: {parts}")
    return out


def segment(labels: dict[str, str]) -> str:
    """``region=JP, k=10`` sorted by key, ``(all)`` for the overall group.

    >>> segment({"region": "JP", "k": "10"}), segment({})
    ('k=10, region=JP', '(all)')
    """
    return ", ".join(f"{key}={value}" for key, value in sorted(labels.items())) or "(all)"


def incident_chart_link(incident: IncidentView) -> str | None:
    """App-relative link to the lead series' chart around the incident, carrying ``incident=<id>``.

    The lead alert's own link (what the chat message carries) gives the series; a failed check without a
    metric links to the first metric it concerns.
    """
    lead = incident.lead
    if lead is None:
        return None
    view = None
    if lead.alert.link:
        view = deep_links.parse(parse_qs(urlsplit(lead.alert.link).query))
    if view is None:
        metric = lead.alert.metric or next(iter(lead.alert.concerns), None)
        view = deep_links.ChartView(incident.datasource, metric)
    return deep_links.chart_url("", replace(view, start=None, end=None, incident=incident.id))


def health(datasource: str, incidents: Sequence[IncidentView], *, last_day: date | None, today: date) -> str:
    """The health of ``datasource`` (see the module's docstring) from its recent incidents and last point's day."""
    mine = [i for i in incidents if i.datasource == datasource]
    if any(i.status != "resolved" for i in mine):
        return "open incident"
    recent = today - timedelta(days=HEALTH_DAYS)
    kinds = {m.kind for i in mine for m in i.members if m.day >= recent}
    if "check" in kinds:
        return "failed check"
    if "freshness" in kinds or last_day is None or last_day < today - timedelta(days=LATE_AFTER_DAYS):
        return "late"
    return "fine"


@dataclass(frozen=True)
class SilenceDraft:
    """The matchers a silence made from an incident's row starts with (the person may edit them)."""

    datasource: str
    product: str
    metric: str
    labels: dict[str, str]


def silence_draft(incident: IncidentView) -> SilenceDraft:
    """Matchers covering the incident's alerts: its metric (or family glob such as ``ranking.*``, or the
    check's name) and the labels every anomaly member shares.

    >>> from datetime import datetime, UTC
    >>> from lupus_store.incidents import Alert, IncidentView, MemberView
    >>> def member(metric, labels):
    ...     return MemberView(1, "s", date(2026, 3, 1), "anomaly", metric, labels, None, 1.0, "sent",
    ...                       Alert("anomaly", metric, labels))
    >>> view = IncidentView(1, "recommend", "recommend", None, date(2026, 3, 1), date(2026, 3, 1), "open",
    ...     "warning", 1.0, "h", [], None, None, None, None, None, None, 0, datetime.now(UTC),
    ...     [member("ranking.ndcg", {"k": "10", "region": "JP"}), member("ranking.recall", {"k": "10"})])
    >>> silence_draft(view)
    SilenceDraft(datasource='recommend', product='recommend', metric='ranking.*', labels={'k': '10'})
    """
    names = sorted({alert_name(m.kind, m.metric, m.alert.check) for m in incident.members} - {None})
    families = {name.split(".", 1)[0] for name in names if ":" not in name and "." in name}
    if len(names) == 1:
        metric = names[0]
    elif len(families) == 1 and all(":" not in name and "." in name for name in names):
        metric = f"{families.pop()}.*"
    else:
        metric = "*"
    anomalies = [m.labels for m in incident.members if m.kind == "anomaly"]
    shared = (
        {k: v for k, v in anomalies[0].items() if all(other.get(k) == v for other in anomalies[1:])}
        if anomalies and len(anomalies) == len(incident.members)
        else {}
    )
    return SilenceDraft(incident.datasource, incident.product, metric, shared)


def labels_from_text(text: str) -> dict[str, str]:
    """``region=JP, k=10`` -> ``{"region": "JP", "k": "10"}``; raises ValueError naming a malformed part.

    >>> labels_from_text("region=JP, k=1*"), labels_from_text("  ")
    ({'region': 'JP', 'k': '1*'}, {})
    """
    labels = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"labels: {part!r} is not key=value (e.g. region=JP, several separated by commas)")
        labels[key.strip()] = value.strip()
    return labels


def labels_to_text(labels: dict[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(labels.items()))
