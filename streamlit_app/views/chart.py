"""Chart detail: one metric, label filters, time range, lines per series, anomalies and the detector's band.

The URL always carries the view (see ``streamlit_app.deep_links``), so alert links open
exactly this view and copying the address bar shares it.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import streamlit as st

from streamlit_app import charts, dashboards, deep_links, queries, tables
from streamlit_app.view_state import context, no_access, query_params, readable

DEFAULT_DAYS = 90

user, db, root = context()
names = readable(user, db, root)
wanted = deep_links.parse(query_params())
if wanted is not None and wanted.datasource not in names:
    no_access(wanted.datasource)  # deep links are checked exactly like lists
if not names:
    st.info("You cannot read any datasource yet.")
    st.stop()

datasource = st.selectbox(
    "Datasource", names, index=names.index(wanted.datasource) if wanted else 0, key="chart_datasource"
)
if wanted is None or wanted.datasource != datasource:
    wanted = deep_links.ChartView(datasource)
series = queries.series(root, datasource)
if series.empty:
    st.info(f"`{datasource}` has no points yet.")
    st.stop()
metrics = sorted(series["metric"].unique())
if wanted.metric and wanted.metric not in metrics:
    st.warning(f"`{wanted.metric}` has no points in `{datasource}`; showing `{metrics[0]}`.")
metric = st.selectbox(
    "Metric", metrics, index=metrics.index(wanted.metric) if wanted.metric in metrics else 0, key=f"metric_{datasource}"
)
st.title(metric)
metric_series = series[series["metric"] == metric]

# One multi-select per label key of this metric; values from the series that exist.
label_values: dict[str, list[str]] = {}
for labels in metric_series["labels"]:
    for key, value in (labels or {}).items():
        label_values.setdefault(key, []).append(value)
filters: dict[str, tuple[str, ...]] = {}
if label_values:
    cols = st.columns(len(label_values) + 1)
    for col, key in zip(cols, sorted(label_values), strict=False):
        options = sorted(set(label_values[key]))
        preset = [v for v in wanted.labels.get(key, ()) if v in options] if wanted.metric == metric else []
        chosen = col.multiselect(
            key, options, default=preset, key=f"label_{datasource}_{metric}_{key}", placeholder="all"
        )
        if chosen:
            filters[key] = tuple(chosen)
    range_col = cols[-1]
else:
    range_col = st.columns(1)[0]

last_day = metric_series["last_ts"].max().date()
first_day = metric_series["first_ts"].min().date()
default_range = (wanted.start or max(first_day, last_day - timedelta(days=DEFAULT_DAYS - 1)), wanted.end or last_day)
picked = range_col.date_input("Time range", value=default_range, key=f"range_{datasource}", format="YYYY-MM-DD")
start, end = picked if isinstance(picked, tuple | list) and len(picked) == 2 else default_range
start, end = (date.fromisoformat(str(start)[:10]), date.fromisoformat(str(end)[:10]))

view = deep_links.ChartView(datasource, metric, filters, start, end)
st.query_params.from_dict(deep_links.to_params(view))


def matches(labels: dict[str, str] | None) -> bool:
    return all((labels or {}).get(key) in values for key, values in filters.items())


selected_ids = set(metric_series.loc[metric_series["labels"].map(matches), "series_id"])
summary = st.container()
chart_slot = st.empty()
if "detail_chart" not in st.session_state:  # the chart's first drawing in this session (see charts.loading_chart)
    chart_slot.vega_lite_chart(charts.loading_chart())
points = queries.points(root, datasource, metric, start, end)
points = points[points["series_id"].isin(selected_ids)]
# Every verdict (expected value and band) only when the chart draws the band; otherwise the flagged ones,
# which is all the anomaly marks and the table need (reading every verdict cost 100-165 ms at 50 x 365).
# Without any flagged point, every verdict is read after all, to tell "no verdicts" from "no anomalies".
evaluated = pd.DataFrame()
if not charts.shows_band(points):
    evaluated = queries.flagged(root, datasource, metric, start, end)
    evaluated = evaluated[evaluated["series_id"].isin(selected_ids)]
if not len(evaluated):
    evaluated = queries.evaluated(root, datasource, metric, start, end)
    evaluated = evaluated[evaluated["series_id"].isin(selected_ids)]
flagged = evaluated[evaluated["is_anomaly"]] if len(evaluated) else evaluated

summary.caption(
    f"{len(selected_ids)} series · {len(points):,} points · {len(flagged)} anomalies · {start} .. {end}"
    + ("" if len(evaluated) else " · no detector verdicts for this metric")
)
if points.empty:
    chart_slot.empty()
    summary.info("No points for this selection.")
    st.stop()
if len(evaluated) and not charts.shows_band(points):
    summary.caption(
        f"Expected line and band are drawn for up to {charts.BAND_SERIES_LIMIT} series: narrow the label filters to see them."
    )
state = chart_slot.vega_lite_chart(
    charts.detail_chart(points, evaluated),
    key="detail_chart",
    on_select="rerun",
    selection_mode=[charts.SERIES_PICK, charts.ANOMALY_PICK] if len(flagged) else [charts.SERIES_PICK],
)

# Anomaly table: narrowed by a click on a line or an anomaly in the chart, or by this selector.
selection = getattr(state, "selection", None) or {}
picked_series = {row.get(charts.SERIES) for row in selection.get(charts.SERIES_PICK, []) if row.get(charts.SERIES)}
picked_anomalies = selection.get(charts.ANOMALY_PICK, [])
series_names = sorted(flagged[charts.SERIES].unique()) if len(flagged) else []
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
st.caption(f"{len(table)} of {len(flagged)} anomalies" + (" (narrowed by your selection)" if narrowed else "") + ", newest first")
if table.empty:
    st.caption("No anomalies in this view.")
else:
    shown = table.rename(columns={charts.SERIES: "series"})[
        ["ts", "series", "value", "expected", "lower", "upper", "score", "detector", "params", "run_id"]
    ].sort_values("ts", ascending=False)
    st.html(tables.html_table(shown))  # not st.dataframe: see streamlit_app/tables.py

# A markdown link, not st.code: the code block's syntax highlighter (a 1.5 MB chunk registering every
# language) cost the browser about 0.5 s of main-thread time while the chart was rendering.
link = deep_links.chart_url("", view)
st.caption(f"Link to this view: [`{link}`]({link})")

with st.expander("Add to dashboard"):
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
