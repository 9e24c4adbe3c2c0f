"""Alerts: recent anomalies and failed checks across the user's datasources; acknowledge with a note."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from streamlit_app import alert_items, queries
from streamlit_app.view_state import context, readable

user, db, root = context()
st.title("Alerts")
names = readable(user, db, root)
days = st.selectbox("Period", [7, 14, 30], index=0, format_func=lambda d: f"last {d} days", key="alerts_days")
since = queries.today() - timedelta(days=days)
items = alert_items.alert_rows(db, names, since=since)
for name in names:
    items = alert_items.merge_anomalies(items, queries.anomalies(root, name, since, None), name)
show_done = st.toggle("Show acknowledged", value=False, key="alerts_show_done")
shown = items if show_done else items[items["status"] != "acknowledged"]
st.caption(
    f"{len(shown)} alerts · failed checks and freshness alerts come from the alert sensor, anomalies also from the store"
)
if shown.empty:
    st.success("Nothing to look at.")
    st.stop()
st.dataframe(shown.drop(columns=["series_id"]), hide_index=True, key="alerts_table")

open_items = items[items["status"] != "acknowledged"].reset_index(drop=True)
if len(open_items):
    st.subheader("Acknowledge")
    labels = [f"{r.day} · {r.datasource} · {r.metric} · {r.series or r.kind}" for r in open_items.itertuples()]
    choice = st.selectbox("Alert", range(len(labels)), format_func=labels.__getitem__, key="ack_pick")
    note = st.text_input("Note", key="ack_note", placeholder="e.g. upstream backfill, expected")
    if st.button("Acknowledge", key="ack_button"):
        row = open_items.iloc[choice]
        alert_items.acknowledge(
            db, user, datasource=row["datasource"], series_id=row["series_id"], day=row["day"], kind=row["kind"],
            metric=row["metric"], note=note, severity=float(row["severity"] or 0.0),
        )  # fmt: skip
        st.rerun()
