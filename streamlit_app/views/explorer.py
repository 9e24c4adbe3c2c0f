"""Explorer: every metric of one datasource as a small chart, searchable, with anomaly counts."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from streamlit_app import charts, deep_links, formats, queries
from streamlit_app.view_state import context, no_access, query_params, readable

MAX_CHARTS = 24
RANGES = {"30 days": 30, "90 days": 90, "1 year": 365}

user, db, root = context()
names = readable(user, db, root)
wanted = deep_links.parse(query_params())
if wanted is not None and wanted.datasource not in names:
    no_access(wanted.datasource)
if not names:
    st.info("You cannot read any datasource yet.")
    st.stop()
default = names.index(wanted.datasource) if wanted else 0
datasource = st.selectbox("Datasource", names, index=default, key="explorer_datasource")
st.query_params["datasource"] = datasource

top = st.columns([3, 1])
search = top[0].text_input("Search metrics", key="explorer_search", placeholder="e.g. null_rate")
span = top[1].selectbox("Range", list(RANGES), index=1, key="explorer_range")

series = queries.series(root, datasource)
if series.empty:
    st.info(f"`{datasource}` has no points yet.")
    st.stop()
end = series["last_ts"].max().date()
start = end - timedelta(days=RANGES[span] - 1)
metrics = sorted(series["metric"].unique())
if search.strip():
    metrics = [m for m in metrics if search.strip().lower() in m.lower()]
st.caption(f"{len(metrics)} metrics · {start} .. {end}")
if not metrics:
    st.info("No metric matches the search.")
    st.stop()

points = queries.points(root, datasource, metrics[:MAX_CHARTS], start, end)
flagged = queries.anomalies(root, datasource, start, end)
counts = flagged.groupby("metric").size() if len(flagged) else {}
grid = st.columns(3)
for i, metric in enumerate(metrics[:MAX_CHARTS]):
    with grid[i % 3].container(border=True):
        n_anomalies = int(counts.get(metric, 0)) if len(counts) else 0
        n_series = int((series["metric"] == metric).sum())
        st.markdown(f"**{metric}**")
        st.caption(f"{n_series} series · {n_anomalies} anomalies")
        metric_points = points[points["metric"] == metric]
        metric_flagged = flagged[flagged["metric"] == metric] if len(flagged) else None
        st.vega_lite_chart(
            charts.small_chart(metric_points, metric_flagged, kind=formats.metric_kind(metric)), key=f"small_{metric}"
        )
        view = deep_links.ChartView(datasource, metric, start=start, end=end)
        st.page_link("views/chart.py", label=f"Open {metric}", query_params=deep_links.to_params(view))
if len(metrics) > MAX_CHARTS:
    st.caption(f"Showing {MAX_CHARTS} of {len(metrics)} metrics: refine the search to see the others.")
