"""Entry point of the Lupus app (`lupus serve ui` and `make demo` run `streamlit run streamlit_app/Home.py`).

Routes to the pages with ``st.navigation`` so that every page has a stable URL path
(``/chart`` is the deep-link target of alerts). Nobody sees a page before signing in; the
sign-in form renders in place, so a deep link opened while signed out shows the linked
chart right after signing in.
"""

# ruff: noqa: N999  - the entry file is Home.py: `lupus demo` (lupus_cli/serve.py) starts this path

from __future__ import annotations

from pathlib import Path

import streamlit as st

from streamlit_app import auth, queries

HERE = Path(__file__).parent

st.set_page_config(page_title="Lupus", page_icon=":wolf:", layout="wide")

db = queries.db()
user = auth.current_user(db)
pages = [
    st.Page(HERE / "views" / "home.py", title="Home", url_path="home", default=True),
    st.Page(HERE / "views" / "explorer.py", title="Explorer", url_path="explorer"),
    st.Page(HERE / "views" / "chart.py", title="Chart", url_path="chart"),
    st.Page(HERE / "views" / "dashboards.py", title="Dashboards", url_path="dashboards"),
    st.Page(HERE / "views" / "alerts.py", title="Alerts", url_path="alerts"),
]
page = st.navigation(pages, position="sidebar" if user else "hidden")
if user is None:
    auth.login_form(db)
    st.stop()
st.session_state["user"] = user
with st.sidebar:
    st.caption(
        f"Signed in as **{user.label}**" + (f" ({', '.join(sorted(user.teams.values()))})" if user.teams else "")
    )
    if st.button("Sign out", key="logout"):
        auth.logout()
page.run()
