"""Main script of the Lupus app (`lupus serve ui` and `make demo` run `streamlit run streamlit_app/server.py`,
the ASGI entry that serves this script).

Routes to the pages with ``st.navigation`` so that every page has a stable URL path
(``/chart`` is the deep-link target of alerts). Nobody sees a page before signing in; the
sign-in form renders in place, so a deep link opened while signed out shows the linked
chart right after signing in. A sign-in lasts across reloads and tabs (``streamlit_app/auth.py``)
when the app runs through ``streamlit_app/server.py``.
"""

# ruff: noqa: N999  - the main script is Home.py: streamlit_app/server.py names this path

from __future__ import annotations

from pathlib import Path

import streamlit as st

from streamlit_app import auth, queries

HERE = Path(__file__).parent

st.set_page_config(page_title="Lupus", page_icon=":wolf:", layout="wide")

db = queries.db()
user = auth.current_user(db)
pages = [
    # Streamlit serves the default page at "/" only; the hidden twin makes "/home" answer too.
    st.Page(HERE / "views" / "home.py", title="Home", url_path="start", default=True),
    st.Page(HERE / "views" / "home.py", title="Home", url_path="home", visibility="hidden"),
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
    st.button("Sign out", key="logout", on_click=auth.sign_out, args=(db,))
    auth.cookie_script()
page.run()
