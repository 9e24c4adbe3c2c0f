"""Home: the datasources this user may read (owner, last update, recent anomalies) and their dashboards."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from streamlit_app import access, dashboards, queries
from streamlit_app.view_state import context, readable

user, db, root = context()
st.title("Datasources")
names = readable(user, db, root)
if not names:
    st.info("You cannot read any datasource yet. Ask an administrator to add you to a team (`lupus user add`).")
else:
    owners = access.owner_teams(db, names)
    rows = []
    for name in names:
        series = queries.series(root, name)
        team, description = owners.get(name, (None, None))
        counts = queries.recent_anomaly_counts(root, name)
        rows.append(
            {
                "datasource": name,
                "owner team": team or "(unregistered)",
                "description": description or "",
                "series": len(series),
                "last update": series["last_ts"].max().strftime("%Y-%m-%d") if len(series) else "no data",
                "anomalies (7 days)": int(counts.sum()),
            }
        )
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="datasources_table")
    cols = st.columns(min(len(names), 4))
    for i, name in enumerate(names):
        cols[i % len(cols)].page_link("views/explorer.py", label=f"Explore {name}", query_params={"datasource": name})

st.header("Dashboards")
visible = dashboards.list_dashboards(db, user)
if not visible:
    st.caption("No dashboards yet: open a chart and use *Add to dashboard*.")
for board in visible:
    shared = " (shared)" if board.shared_team_id else ""
    st.page_link("views/dashboards.py", label=f"{board.name}{shared}", query_params={"id": str(board.id)})
