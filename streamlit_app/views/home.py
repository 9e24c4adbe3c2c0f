"""Home, the incident board: open and recently resolved incidents first, then datasources by health, then dashboards.

A PM opening the app from an alert (or on a Monday) reads here what is wrong, since when, how bad and what
explains it, and who owns it (``streamlit_app/incident_board.py``).
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from streamlit_app import access, dashboards, incident_board, queries, tables
from streamlit_app.view_state import context, readable

user, db, root = context()
today = queries.today()
names = readable(user, db, root)

st.title("Incidents")
incidents = incident_board.board_incidents(db, names, today=today)
if not names:
    st.info("You cannot read any datasource yet. Ask an administrator to add you to a team (`lupus user add`).")
elif not incidents:
    st.success(f"No incident in the last {incident_board.RESOLVED_DAYS} days.")
else:
    open_count = sum(i.status != "resolved" for i in incidents)
    st.caption(
        f"{open_count} open or acknowledged · {len(incidents) - open_count} resolved in the last "
        f"{incident_board.RESOLVED_DAYS} days · acknowledge or silence on the Alerts page"
    )
    rows = pd.DataFrame([incident_board.board_row(i, today=today).as_dict() for i in incidents])
    columns = ["incident", "headline", "since", "change", "top slices", "status", "verdict", "team", "chart", "link"]
    st.html(
        tables.html_table(
            rows[columns],
            links={"chart": "link"},
            badges={"status": incident_board.STATUS_COLORS},
            css_class="board",
            nowrap=["incident", "change", "status", "team", "chart"],
        )
    )
    st.page_link("views/alerts.py", label="All incidents, acknowledge, silence →")

st.header("Datasources")
if names:
    owners = access.owner_teams(db, names)
    rows = []
    for name in names:
        series = queries.series(root, name)
        team, description = owners.get(name, (None, None))
        last_day = series["last_ts"].max().date() if len(series) else None
        rows.append(
            {
                "datasource": name,
                "health": incident_board.health(name, incidents, last_day=last_day, today=today),
                "owner team": team or "(unregistered)",
                "description": description or "",
                "series": len(series),
                "last update": last_day.isoformat() if last_day else "no data",
                "anomalies (7 days)": int(queries.recent_anomaly_counts(root, name).sum()),
                "explore": f"Explore {name}",
                "link": "/explorer?" + urlencode({"datasource": name}),
            }
        )
    frame = pd.DataFrame(rows)
    rank = {h: n for n, h in enumerate(incident_board.HEALTH_ORDER)}
    frame = frame.sort_values(["health", "datasource"], key=lambda c: c.map(rank) if c.name == "health" else c)
    st.html(
        tables.html_table(
            frame,
            links={"explore": "link"},
            badges={"health": incident_board.HEALTH_COLORS},
            css_class="datasources",
            nowrap=["datasource", "health", "owner team", "series", "last update", "anomalies (7 days)"],
        )
    )
    st.caption(
        f"Health: open incident · failed check (last {incident_board.HEALTH_DAYS} days) · late (a freshness alert, "
        f"or no point since {(today - timedelta(days=incident_board.LATE_AFTER_DAYS)).isoformat()}) · fine"
    )

st.header("Dashboards")
visible = dashboards.list_dashboards(db, user)
if not visible:
    st.caption("No dashboards yet: open a chart and use *Add to dashboard*.")
for board in visible:
    shared = " (shared)" if board.shared_team_id else ""
    st.page_link("views/dashboards.py", label=f"{board.name}{shared}", query_params={"id": str(board.id)})
