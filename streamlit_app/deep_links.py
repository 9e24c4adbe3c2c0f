"""The chart deep link: URL query parameters <-> the chart view they describe.

Contract (alerts link here, keep it stable)::

    <app-url>/chart?datasource=<ds>&metric=<metric>&label.<key>=<value>[&label.<key>=<v2>...]
                   &start=YYYY-MM-DD&end=YYYY-MM-DD[&compare=week][&incident=<id>]

Repeated ``label.<key>`` parameters select several values of that key; ``compare=week`` overlays
the same series a week earlier; ``incident=<id>`` (links from the incident board and the Alerts page)
marks that incident and offers the "around this incident" range.

Example:
    >>> view = parse({"datasource": ["demo"], "metric": ["rows.count"], "label.region": ["JP", "US"],
    ...               "start": ["2026-01-01"], "end": ["2026-01-31"]})
    >>> view.labels, view.start
    ({'region': ('JP', 'US')}, datetime.date(2026, 1, 1))
    >>> chart_url("http://localhost:8501", view)
    'http://localhost:8501/chart?datasource=demo&metric=rows.count&label.region=JP&label.region=US&start=2026-01-01&end=2026-01-31'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlencode

LABEL_PREFIX = "label."
PAGE_PATH = "chart"
COMPARE_WEEK = "week"


@dataclass(frozen=True)
class ChartView:
    """One chart: a metric of a datasource, label filters (key -> selected values), a date range and
    whether the same series a week earlier are drawn too; ``incident``: the incident the link came from."""

    datasource: str
    metric: str | None = None
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    start: date | None = None
    end: date | None = None
    compare: bool = False
    incident: int | None = None


def _one(params: Mapping[str, Sequence[str]], key: str) -> str | None:
    values = params.get(key) or []
    return values[-1] if values else None


def _date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None  # a mangled date in a link falls back to the default range instead of an error page


def parse(params: Mapping[str, Sequence[str]]) -> ChartView | None:
    """The view a query string describes (key -> all its values), or None without a datasource."""
    datasource = _one(params, "datasource")
    if not datasource:
        return None
    labels: dict[str, tuple[str, ...]] = {}
    for key, values in params.items():
        if key.startswith(LABEL_PREFIX) and len(key) > len(LABEL_PREFIX):
            labels[key[len(LABEL_PREFIX) :]] = tuple(dict.fromkeys(v for v in values if v))
    return ChartView(
        datasource=datasource,
        metric=_one(params, "metric"),
        labels={k: v for k, v in sorted(labels.items()) if v},
        start=_date(_one(params, "start")),
        end=_date(_one(params, "end")),
        compare=_one(params, "compare") == COMPARE_WEEK,
        incident=_int(_one(params, "incident")),
    )


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def to_params(view: ChartView) -> dict[str, str | list[str]]:
    """Query parameters for ``view`` (for ``st.query_params`` and ``st.page_link``)."""
    params: dict[str, str | list[str]] = {"datasource": view.datasource}
    if view.metric:
        params["metric"] = view.metric
    for key, values in sorted(view.labels.items()):
        if values:
            params[LABEL_PREFIX + key] = list(values)
    if view.start:
        params["start"] = view.start.isoformat()
    if view.end:
        params["end"] = view.end.isoformat()
    if view.compare:
        params["compare"] = COMPARE_WEEK
    if view.incident is not None:
        params["incident"] = str(view.incident)
    return params


def chart_url(base_url: str, view: ChartView) -> str:
    """The absolute deep link to ``view`` under ``base_url`` (the app's root URL)."""
    return f"{base_url.rstrip('/')}/{PAGE_PATH}?{urlencode(to_params(view), doseq=True)}"


DASHBOARD_COLUMNS = (2, 3)


@dataclass(frozen=True)
class DashboardView:
    """A dashboard as its link describes it: which one, an optional range for every chart (else each chart's
    saved range) and how many charts per row.

    >>> parse_dashboard({"id": ["4"], "start": ["2026-03-01"], "end": ["2026-03-31"], "cols": ["3"]})
    DashboardView(id=4, start=datetime.date(2026, 3, 1), end=datetime.date(2026, 3, 31), columns=3)
    >>> dashboard_params(DashboardView(4, columns=2))
    {'id': '4'}
    """

    id: int | None = None
    start: date | None = None
    end: date | None = None
    columns: int = DASHBOARD_COLUMNS[0]


def parse_dashboard(params: Mapping[str, Sequence[str]]) -> DashboardView:
    """The dashboard view of ``<app-url>/dashboards?id=<n>[&start=YYYY-MM-DD&end=YYYY-MM-DD][&cols=2|3]``;
    malformed values fall back to their defaults (a link never fails)."""
    try:
        board = int(_one(params, "id") or "")
    except ValueError:
        board = None
    start, end = _date(_one(params, "start")), _date(_one(params, "end"))
    if start is None or end is None or start > end:
        start = end = None
    columns = _one(params, "cols")
    return DashboardView(board, start, end, int(columns) if columns in ("2", "3") else DASHBOARD_COLUMNS[0])


def dashboard_params(view: DashboardView) -> dict[str, str]:
    """Query parameters for ``view`` (defaults left out)."""
    params: dict[str, str] = {}
    if view.id is not None:
        params["id"] = str(view.id)
    if view.start and view.end:
        params |= {"start": view.start.isoformat(), "end": view.end.isoformat()}
    if view.columns != DASHBOARD_COLUMNS[0]:
        params["cols"] = str(view.columns)
    return params
