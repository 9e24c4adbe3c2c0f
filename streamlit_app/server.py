"""The app as an ASGI application: Streamlit's server plus the route that sets the sign-in cookie.

``lupus serve ui`` runs ``streamlit run streamlit_app/server.py``; Streamlit finds ``app`` below and
serves ``Home.py`` with Starlette and uvicorn, adding :mod:`streamlit_app.session_routes` (Streamlit
scripts cannot set cookies themselves). ``streamlit run streamlit_app/Home.py`` still works, without
sign-ins that survive a reload.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from streamlit_app import session_routes

app = st.App(Path(__file__).with_name("Home.py"), routes=session_routes.routes())
