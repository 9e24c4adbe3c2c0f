"""Alerts: recent anomalies and failed checks across the user's datasources, each with its series and a link to
its chart; acknowledge with a note."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from streamlit_app import alert_items, formats, queries, tables
from streamlit_app.view_state import context, readable

user, db, root = context()
st.title("Alerts")
names = readable(user, db, root)
days = st.selectbox("Period", [7, 14, 30], index=0, format_func=lambda d: f"last {d} days", key="alerts_days")
since = queries.today() - timedelta(days=days)
labels_by_id = {}
for name in names:
    listed = queries.series(root, name)
    labels_by_id.update(zip(listed["series_id"], listed["label_text"], strict=True))
items = alert_items.alert_rows(db, names, since=since, series_labels=labels_by_id)
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


def _number(row: pd.Series, column: str) -> str:
    value = row[column]
    return (
        ""
        if value is None or pd.isna(value)
        else formats.format_value(float(value), formats.metric_kind(row["metric"]))
    )


# Values read in the metric's own format (a churn of 0.31 as 31%); the change is against the expected value.
table = shown.assign(
    value=[_number(row, "value") for _, row in shown.iterrows()],
    expected=[_number(row, "expected") for _, row in shown.iterrows()],
    change=[formats.format_change(v, e) for v, e in zip(shown["value"], shown["expected"], strict=True)],
    link=shown["chart"],
    chart=["Open chart" if isinstance(link, str) and link else "" for link in shown["chart"]],
)
columns = ["day", "datasource", "kind", "metric", "series", "value", "expected", "change", "status", "note",
           "acknowledged_by", "chart", "link"]  # fmt: skip
st.html(tables.html_table(table[columns], links={"chart": "link"}))  # see streamlit_app/tables.py

open_items = items[items["status"] != "acknowledged"].reset_index(drop=True)
if len(open_items):
    st.subheader("Acknowledge")
    labels = [alert_items.describe(row) for _, row in open_items.iterrows()]
    choice = st.selectbox("Alert", range(len(labels)), format_func=labels.__getitem__, key="ack_pick")
    note = st.text_input("Note", key="ack_note", placeholder="e.g. upstream backfill, expected")
    if st.button("Acknowledge", key="ack_button"):
        row = open_items.iloc[choice]
        alert_items.acknowledge(
            db, user, datasource=row["datasource"], series_id=row["series_id"], day=row["day"], kind=row["kind"],
            metric=row["metric"], note=note, severity=float(row["severity"] or 0.0),
        )  # fmt: skip
        st.rerun()
