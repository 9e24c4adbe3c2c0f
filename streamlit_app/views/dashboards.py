"""Dashboards: open, rename, share with a team, reorder and remove charts; charts respect permissions."""

from __future__ import annotations

import streamlit as st

from streamlit_app import charts, dashboards, deep_links, queries
from streamlit_app.view_state import context, readable

user, db, root = context()
names = set(readable(user, db, root))
st.title("Dashboards")

visible = dashboards.list_dashboards(db, user)
with st.expander("New dashboard", expanded=not visible):
    new_name = st.text_input("Name", key="new_dashboard_name")
    if st.button("Create", key="create_dashboard"):
        try:
            new_id = dashboards.create_dashboard(db, user, new_name)
            st.query_params["id"] = str(new_id)
            st.rerun()
        except dashboards.DashboardError as error:
            st.error(str(error))
if not visible:
    st.stop()

ids = [d.id for d in visible]
try:
    wanted = int(st.query_params.get("id", ids[0]))
except ValueError:
    wanted = ids[0]
if wanted not in ids:
    st.error("That dashboard does not exist or is not shared with you.")
    wanted = ids[0]
labels = {d.id: d.name + (" (shared)" if d.shared_team_id else "") for d in visible}
board_id = st.selectbox("Dashboard", ids, index=ids.index(wanted), format_func=labels.get, key="dashboard_pick")
st.query_params["id"] = str(board_id)
board = dashboards.get_dashboard(db, user, board_id)
st.header(board.name)

if board.editable_by(user):
    with st.expander("Settings"):
        rename = st.text_input("Name", value=board.name, key=f"rename_{board.id}")
        teams = {None: "private", **user.teams}
        share = st.selectbox(
            "Share with team", list(teams), index=list(teams).index(board.shared_team_id) if board.shared_team_id in teams else 0,
            format_func=teams.get, key=f"share_{board.id}",
        )  # fmt: skip
        if st.button("Save", key=f"save_{board.id}"):
            dashboards.rename_dashboard(db, user, board.id, rename)
            dashboards.share_dashboard(db, user, board.id, share)
            st.rerun()
        if st.button("Delete dashboard", key=f"delete_{board.id}", type="secondary"):
            dashboards.delete_dashboard(db, user, board.id)
            st.query_params.pop("id", None)
            st.rerun()

if not board.charts:
    st.caption("No charts yet: open a chart and use *Add to dashboard*.")
today = queries.today()
for index, item in enumerate(board.charts):
    view = item.view
    with st.container(border=True):
        head = st.columns([6, 1, 1, 1])
        head[0].markdown(f"**{item.title or view.metric}** · `{view.datasource}`")
        if board.editable_by(user):
            if head[1].button("↑", key=f"up_{item.id}", disabled=index == 0, help="Move up"):
                dashboards.move_chart(db, user, board.id, item.id, -1)
                st.rerun()
            if head[2].button("↓", key=f"down_{item.id}", disabled=index == len(board.charts) - 1, help="Move down"):
                dashboards.move_chart(db, user, board.id, item.id, +1)
                st.rerun()
            if head[3].button("✕", key=f"remove_{item.id}", help="Remove from the dashboard"):
                dashboards.remove_chart(db, user, board.id, item.id)
                st.rerun()
        if view.datasource not in names:
            st.warning(f"You do not have access to `{view.datasource}`.")
            continue
        start, end = dashboards.resolve_range(item.time_range, today=today)
        filters = view.labels
        points = queries.points(root, view.datasource, view.metric, start, end)
        evaluated = queries.evaluated(root, view.datasource, view.metric, start, end)

        def keep(frame, filters=filters):
            if not filters or frame.empty:
                return frame
            mask = frame["labels"].map(lambda labels: all((labels or {}).get(k) in v for k, v in filters.items()))
            return frame[mask]

        points, evaluated = keep(points), keep(evaluated)
        if points.empty:
            st.caption("No points in this range.")
        else:
            st.vega_lite_chart(charts.detail_chart(points, evaluated, height=260), key=f"chart_{item.id}")
        full = deep_links.ChartView(view.datasource, view.metric, view.labels, start, end)
        st.page_link("views/chart.py", label="Open chart", query_params=deep_links.to_params(full))
