"""Chart detail: one metric, label filters, time range, lines per series, anomalies and the detector's band.

The URL always carries the view (see ``streamlit_app.deep_links``), so alert links open
exactly this view and copying the address bar shares it.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import streamlit as st

from streamlit_app import (
    annotations,
    chart_data,
    charts,
    dashboards,
    deep_links,
    formats,
    incident_board,
    queries,
    tables,
    time_ranges,
)
from streamlit_app.view_state import context, no_access, query_params, readable

DEFAULT_DAYS = 90
AROUND = "around this incident"
SHOWN_VIEW = "chart_shown_view"  # the view this page last wrote to the URL

user, db, root = context()
names = readable(user, db, root)
linked = deep_links.parse(query_params())
if linked is not None and linked.datasource not in names:
    no_access(linked.datasource)  # deep links are checked exactly like lists
if not names:
    st.info("You cannot read any datasource yet.")
    st.stop()

# The page writes its view to the URL at the end of every run. A URL that differs from the last view written
# came from a link (an alert, a dashboard, the explorer, the browser's history): it sets the widgets. Otherwise
# the widgets keep what the person chose. (Widget defaults alone would not do: a keyed widget keeps its first
# value for the whole session, so a second link to the same datasource showed the first link's range.)
arrived = linked is not None and linked != st.session_state.get(SHOWN_VIEW)
state = st.session_state

# The controls sit above the chart but are drawn after it (draw_controls below): the view is decided from the
# widgets' state first (set from the link, kept from the last run, or defaults), the chart goes out, then the
# widgets fill their place above it. A fresh page (an alert link opened in a new tab) gets its chart that much
# sooner: the browser renders the chart before it loads and renders the widgets' code.
controls = st.container()
if arrived or state.get("chart_datasource") not in names:
    state["chart_datasource"] = linked.datasource if arrived else names[0]
datasource = state["chart_datasource"]
wanted = linked if arrived and linked.datasource == datasource else deep_links.ChartView(datasource)
series = queries.series(root, datasource)
if series.empty:
    controls.selectbox("Datasource", names, key="chart_datasource")
    st.info(f"`{datasource}` has no points yet.")
    st.stop()
metrics = sorted(series["metric"].unique())
metric_key = f"metric_{datasource}"
missing_metric = bool(arrived and wanted.metric and wanted.metric not in metrics)
if arrived and wanted.metric in metrics:
    state[metric_key] = wanted.metric
elif missing_metric or state.get(metric_key) not in metrics:
    state[metric_key] = metrics[0]
metric = state[metric_key]
metric_series = series[series["metric"] == metric]

# One multi-select per label key of this metric; values from the series that exist.
label_values: dict[str, list[str]] = {}
for labels in metric_series["labels"]:
    for key, value in (labels or {}).items():
        label_values.setdefault(key, []).append(value)
label_options = {key: sorted(set(values)) for key, values in sorted(label_values.items())}
filters: dict[str, tuple[str, ...]] = {}
for key, options in label_options.items():
    label_key = f"label_{datasource}_{metric}_{key}"
    chosen = wanted.labels.get(key, ()) if arrived else state.get(label_key, [])
    state[label_key] = [v for v in chosen if v in options]
    if state[label_key]:
        filters[key] = tuple(state[label_key])

last_day = metric_series["last_ts"].max().date()
first_day = metric_series["first_ts"].min().date()
# Incidents of this datasource's last year of data (one indexed query): annotations, the root-cause sentence,
# "around this incident" (a linked older incident is read by its id).
known_incidents = annotations.datasource_incidents(db, datasource, since=max(first_day, last_day - timedelta(days=366)))
if arrived and wanted.incident is not None and all(i.id != wanted.incident for i in known_incidents):
    known_incidents += annotations.incident_of(db, datasource, wanted.incident)
focus_key = f"incident_focus_{datasource}"
if arrived:
    st.session_state[focus_key] = wanted.incident
incident_focus = annotations.focus_incident(known_incidents, metric, st.session_state.get(focus_key))
around_range = annotations.around(incident_focus, last_day) if incident_focus else None
default_range = (max(first_day, last_day - timedelta(days=DEFAULT_DAYS - 1)), last_day)
if arrived and wanted.incident is not None and around_range and not (wanted.start or wanted.end):
    default_range = around_range  # an incident's link without a range opens around the incident
range_key, preset_key, compare_key = f"range_{datasource}", f"preset_{datasource}", f"compare_{datasource}"
presets = [*time_ranges.PRESETS, *([AROUND] if incident_focus else [])]


def _matching_preset(start: date, end: date) -> str | None:
    if around_range and (start, end) == around_range:
        return AROUND
    return time_ranges.matching_preset(start, end, last_day)


if arrived or range_key not in st.session_state:
    linked_range = (wanted.start or default_range[0], wanted.end or default_range[1])
    st.session_state[range_key] = linked_range
    st.session_state[preset_key] = _matching_preset(*linked_range)
    st.session_state[compare_key] = wanted.compare
if st.session_state.get(preset_key) not in (None, *presets):  # e.g. "around" kept from a metric with an incident
    st.session_state[preset_key] = None
picked = state[range_key]
start, end = picked if isinstance(picked, tuple | list) and len(picked) == 2 else default_range
start, end = (date.fromisoformat(str(start)[:10]), date.fromisoformat(str(end)[:10]))
compare = bool(state.get(compare_key))


def _apply_preset() -> None:
    chosen = st.session_state[preset_key]
    if chosen == AROUND and around_range:
        st.session_state[range_key] = around_range
    elif chosen:
        st.session_state[range_key] = time_ranges.preset_range(chosen, last_day)


def _clear_preset() -> None:
    st.session_state[preset_key] = None


def draw_controls() -> None:
    """The widgets of the view decided above, in their place above the chart (same keys, so the same values)."""
    with controls:
        st.selectbox("Datasource", names, key="chart_datasource")
        if missing_metric:
            st.warning(f"`{wanted.metric}` has no points in `{datasource}`; showing `{metric}`.")
        st.selectbox("Metric", metrics, key=metric_key)
        st.title(metric)
        if label_options:
            for col, (key, options) in zip(st.columns(len(label_options)), label_options.items(), strict=True):
                col.multiselect(key, options, key=f"label_{datasource}_{metric}_{key}", placeholder="all")
        range_cols = st.columns(2, vertical_alignment="bottom")
        range_cols[0].segmented_control(
            "Last", presets, key=preset_key, on_change=_apply_preset,
            help=f"{AROUND}: incident #{incident_focus.id}, two weeks before to a week after" if incident_focus else None,
        )  # fmt: skip
        range_cols[1].date_input("Time range", key=range_key, format="YYYY-MM-DD", on_change=_clear_preset)
        st.toggle("Compare with a week earlier", key=compare_key)


view = deep_links.ChartView(
    datasource, metric, filters, start, end, compare=compare, incident=st.session_state.get(focus_key)
)
st.query_params.from_dict(deep_links.to_params(view))
st.session_state[SHOWN_VIEW] = view

selected_ids = chart_data.selected_series(series, metric, filters)
kind = formats.metric_kind(metric)
summary = st.container()
legend_slot = st.empty()
chart_slot = st.empty()
if "detail_chart" not in st.session_state:  # the chart's first drawing in this session (see charts.loading_chart)
    chart_slot.vega_lite_chart(charts.loading_chart())
data = chart_data.load(root, datasource, metric, selected_ids, start, end, compare=compare)
points, evaluated, flagged = data.points, data.evaluated, data.flagged

summary.caption(
    f"{len(selected_ids)} series · {len(points):,} points · {len(flagged)} anomalies · {start} .. {end}"
    + ("" if len(evaluated) else " · no detector verdicts for this metric")
)
if points.empty:
    chart_slot.empty()
    summary.info("No points for this selection.")
    draw_controls()
    st.stop()
if len(evaluated) and not charts.shows_band(points):
    summary.caption(
        f"Expected line and band are drawn for up to {charts.BAND_SERIES_LIMIT} series: narrow the label filters to see them."
    )
if compare and data.previous is None:
    summary.caption(
        f"The week-earlier comparison is drawn for up to {charts.BAND_SERIES_LIMIT} series: narrow the label filters to see it."
    )
releases = annotations.pushed_markers(db, datasource, start, end)
if annotations.RELEASE_METRIC in set(series["metric"]):
    releases += annotations.releases_from_points(
        queries.points(root, datasource, annotations.RELEASE_METRIC, start, end)
    )
events = annotations.annotations(known_incidents, metric, start, end, releases)
if events:  # said next to the anomaly count: a failed check has no anomaly mark
    shown_events = ", ".join(f"{e.label} on {e.day}" for e in events[:4]) + (" …" if len(events) > 4 else "")
    summary.caption(f"Events: {shown_events} (marked on the chart, listed below it)")
for incident in known_incidents:  # "region=JP explains 92 % of the drop" on the aggregate's chart
    if incident.start_day <= end and incident.last_day >= start:
        for sentence in incident_board.root_cause_sentences(incident, metric):
            summary.info(
                f"**{sentence}** on {incident.start_day} (incident #{incident.id})", icon=":material/troubleshoot:"
            )
spec = charts.detail_chart(
    points, evaluated, kind=kind, previous=data.previous, annotations=annotations.frame(events) if events else None
)
legend_slot.html(charts.mark_legend(spec))
chart_state = chart_slot.vega_lite_chart(
    spec,
    key="detail_chart",
    on_select="rerun",
    selection_mode=[charts.SERIES_PICK, charts.ANOMALY_PICK] if len(flagged) else [charts.SERIES_PICK],
)
draw_controls()

# Anomaly table: narrowed by a click on a line or an anomaly in the chart, or by this selector.
selection = getattr(chart_state, "selection", None) or {}
picked_series = {row.get(charts.SERIES) for row in selection.get(charts.SERIES_PICK, []) if row.get(charts.SERIES)}
picked_anomalies = selection.get(charts.ANOMALY_PICK, [])
series_names = sorted(flagged[charts.SERIES].unique()) if len(flagged) else []
focus = "all series"
if len(series_names) > 1:  # a choice only when the anomalies are of several series
    focus = st.selectbox("Anomalies of", ["all series", *series_names], key=f"focus_{datasource}_{metric}")
table = flagged
if focus != "all series":
    table = table[table[charts.SERIES] == focus]
if picked_series:
    table = table[table[charts.SERIES].isin(picked_series)]
if picked_anomalies:
    keys = {(row.get(charts.SERIES), pd.Timestamp(row.get("ts"), unit="ms", tz="UTC")) for row in picked_anomalies}
    table = table[[(s, t) in keys for s, t in zip(table[charts.SERIES], table["ts"], strict=True)]]
st.subheader("Anomalies")
narrowed = focus != "all series" or picked_series or picked_anomalies
st.caption(
    f"{len(table)} of {len(flagged)} anomalies"
    + (" (narrowed by your selection)" if narrowed else "")
    + ", newest first"
)
if table.empty:
    st.caption("No anomalies in this view.")
else:
    shown = table.rename(columns={charts.SERIES: "series"}).assign(
        change=[formats.format_change(v, e) for v, e in zip(table["value"], table["expected"], strict=True)]
    )[["ts", "series", "value", "expected", "change", "lower", "upper", "score", "detector", "params", "run_id"]]
    by_kind = lambda value: formats.format_value(value, kind)  # noqa: E731
    number = {c: by_kind for c in ("value", "expected", "lower", "upper")} | {
        "score": lambda value: formats.format_value(value, "number")
    }
    # not st.dataframe: see streamlit_app/tables.py
    st.html(tables.html_table(shown.sort_values("ts", ascending=False), formats=number))

if events:
    st.subheader("Events")
    rows = pd.DataFrame(
        [{"day": e.day.isoformat(), "event": e.label, "what": e.text,
          "incident": f"#{e.incident}" if e.incident is not None else ""} for e in events]
    )  # fmt: skip
    st.html(tables.html_table(rows, css_class="events", nowrap=["day", "event", "incident"]))

# A markdown link, not st.code: the code block's syntax highlighter (a 1.5 MB chunk registering every
# language) cost the browser about 0.5 s of main-thread time while the chart was rendering.
link = deep_links.chart_url("", view)
link_col, csv_col = st.columns([5, 1], vertical_alignment="center")
link_col.caption(f"Link to this view: [`{link}`]({link})")
csv_col.download_button(
    "Download CSV",
    data=lambda: chart_data.to_csv(data, datasource=datasource, metric=metric),  # built on click only
    file_name=f"{datasource}_{metric}_{start}_{end}.csv",
    mime="text/csv",
    on_click="ignore",
    key="csv_download",
    help="The points of this chart (the selected series in this range), with the detector's verdicts",
)

# The form only when asked for: its widgets (and the dashboards query) cost a fresh page load about 0.3 s of
# browser work under load, for a form most visits do not use (an expander renders its hidden content too).
if st.toggle("Add to dashboard", key="dash_open"):
    mine = [d for d in dashboards.list_dashboards(db, user) if d.editable_by(user)]
    choices = {d.name: d.id for d in mine}
    target = st.selectbox("Dashboard", [*choices, "New dashboard…"], key="dash_target")
    new_name = st.text_input("New dashboard name", key="dash_new_name") if target == "New dashboard…" else ""
    title = st.text_input("Chart title (optional)", key="dash_title")
    if st.button("Add chart", key="dash_add"):
        try:
            board_id = choices.get(target) or dashboards.create_dashboard(db, user, new_name)
            dashboards.add_chart(
                db,
                user,
                board_id,
                view,
                time_range=dashboards.encode_range(start, end, today=queries.today()),
                title=title,
            )
            st.success(f"Added to **{target if target in choices else new_name}**.")
            st.page_link("views/dashboards.py", label="Open the dashboard", query_params={"id": str(board_id)})
        except dashboards.DashboardError as error:
            st.error(str(error))
