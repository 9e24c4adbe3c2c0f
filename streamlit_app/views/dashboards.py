"""Dashboards: a grid of charts (two or three per row) with one time range for all of them; open, rename,
share with a team, reorder and remove charts; charts respect permissions.

The URL carries the view (``deep_links.DashboardView``: ``id``, ``start``/``end``, ``cols``), so a
dashboard link opens the same dashboard, range and grid, like a chart link.
"""

from __future__ import annotations

from datetime import date, timedelta

import streamlit as st

from streamlit_app import chart_data, charts, dashboards, deep_links, formats, queries, time_ranges
from streamlit_app.view_state import context, query_params, readable

SAVED = "as saved"
CUSTOM = "custom"
SHOWN_VIEW = "dashboard_shown_view"  # the view this page last wrote to the URL (see views/chart.py)

user, db, root = context()
names = set(readable(user, db, root))
st.title("Dashboards")

visible = dashboards.list_dashboards(db, user)
with st.expander("New dashboard", expanded=not visible):
    new_name = st.text_input("Name", key="new_dashboard_name")
    if st.button("Create", key="create_dashboard"):
        try:
            new_id = dashboards.create_dashboard(db, user, new_name)
            st.query_params.from_dict({"id": str(new_id)})
            st.rerun()
        except dashboards.DashboardError as error:
            st.error(str(error))
if not visible:
    st.stop()

linked = deep_links.parse_dashboard(query_params())
arrived = linked != st.session_state.get(SHOWN_VIEW)
ids = [d.id for d in visible]
if linked.id is not None and linked.id not in ids:
    st.error("That dashboard does not exist or is not shared with you.")
today = queries.today()
yesterday = today - timedelta(days=1)  # moving ranges end yesterday (today's partition is often incomplete)
if arrived or "dashboard_pick" not in st.session_state:
    st.session_state["dashboard_pick"] = linked.id if linked.id in ids else ids[0]
    st.session_state["dashboard_columns"] = linked.columns
    if linked.start and linked.end:
        preset = time_ranges.matching_preset(linked.start, linked.end, yesterday)
        st.session_state["dashboard_range_choice"] = preset or CUSTOM
        st.session_state["dashboard_range"] = (linked.start, linked.end)
    else:
        st.session_state["dashboard_range_choice"] = SAVED
        st.session_state["dashboard_range"] = time_ranges.preset_range("30 days", yesterday)

labels = {d.id: d.name + (" (shared)" if d.shared_team_id else "") for d in visible}
top = st.columns([2, 4, 1], vertical_alignment="bottom")
board_id = top[0].selectbox("Dashboard", ids, format_func=labels.get, key="dashboard_pick")


def _custom_range_start() -> None:
    if st.session_state.get("dashboard_range_choice") == CUSTOM and "dashboard_range" not in st.session_state:
        st.session_state["dashboard_range"] = time_ranges.preset_range("30 days", yesterday)


choice = top[1].segmented_control(
    "Time range of every chart",
    [SAVED, *time_ranges.PRESETS, CUSTOM],
    key="dashboard_range_choice",
    on_change=_custom_range_start,
)
columns = top[2].selectbox("Per row", list(deep_links.DASHBOARD_COLUMNS), key="dashboard_columns")
board_range: tuple[date, date] | None = None
if choice == CUSTOM:
    picked = st.date_input("Custom range", key="dashboard_range", format="YYYY-MM-DD")
    if isinstance(picked, tuple | list) and len(picked) == 2:
        board_range = (picked[0], picked[1])
elif choice in time_ranges.PRESETS:
    board_range = time_ranges.preset_range(choice, yesterday)

view = deep_links.DashboardView(board_id, *(board_range or (None, None)), columns=columns)
st.query_params.from_dict(deep_links.dashboard_params(view))
st.session_state[SHOWN_VIEW] = view
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
            st.query_params.clear()
            st.session_state.pop("dashboard_pick", None)
            st.rerun()

if not board.charts:
    st.caption("No charts yet: open a chart and use *Add to dashboard*.")
    st.stop()
st.caption(
    f"{len(board.charts)} charts · "
    + (f"{board_range[0]} .. {board_range[1]}" if board_range else "each chart over its saved range")
)
legend_slot = st.empty()
drawn_layers: set[str] = set()
grid = [st.columns(columns) for _ in range(-(-len(board.charts) // columns))]
for index, item in enumerate(board.charts):
    chart_view = item.view
    with grid[index // columns][index % columns].container(border=True):
        head = st.columns([6, 1, 1, 1], vertical_alignment="center")
        head[0].markdown(f"**{item.title or chart_view.metric}** · `{chart_view.datasource}`")
        if board.editable_by(user):
            if head[1].button("←", key=f"up_{item.id}", disabled=index == 0, help="Move earlier"):
                dashboards.move_chart(db, user, board.id, item.id, -1)
                st.rerun()
            if head[2].button("→", key=f"down_{item.id}", disabled=index == len(board.charts) - 1, help="Move later"):
                dashboards.move_chart(db, user, board.id, item.id, +1)
                st.rerun()
            if head[3].button("✕", key=f"remove_{item.id}", help="Remove from the dashboard"):
                dashboards.remove_chart(db, user, board.id, item.id)
                st.rerun()
        if chart_view.datasource not in names:
            st.warning(f"You do not have access to `{chart_view.datasource}`.")
            continue
        start, end = board_range or dashboards.resolve_range(item.time_range, today=today)
        series_ids = chart_data.selected_series(
            queries.series(root, chart_view.datasource), chart_view.metric, chart_view.labels
        )
        data = chart_data.load(root, chart_view.datasource, chart_view.metric, series_ids, start, end)
        st.caption(f"{start} .. {end} · {len(data.flagged)} anomalies")
        if data.points.empty:
            st.caption("No points in this range.")
        else:
            spec = charts.detail_chart(
                data.points, data.evaluated, kind=formats.metric_kind(chart_view.metric), height=240,
                legend_columns=4 - columns,  # narrower cards, fewer legend columns
            )  # fmt: skip
            drawn_layers |= set(spec["datasets"])
            st.vega_lite_chart(spec, key=f"chart_{item.id}")
        full = deep_links.ChartView(chart_view.datasource, chart_view.metric, chart_view.labels, start, end)
        st.page_link("views/chart.py", label="Open chart", query_params=deep_links.to_params(full))
if drawn_layers:
    legend_slot.html(charts.mark_legend({"datasets": dict.fromkeys(drawn_layers)}))
