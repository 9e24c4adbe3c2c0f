"""Small helpers shared by the pages: the signed-in user, the store root, the readable datasources."""

from __future__ import annotations

import streamlit as st

from lupus_store.config import store_root
from lupus_store.metadata import MetadataDB
from streamlit_app import access, queries
from streamlit_app.access import CurrentUser


def context() -> tuple[CurrentUser, MetadataDB, str]:
    """(user, metadata database, store root) for a page; Home.py has already required sign-in."""
    return st.session_state["user"], queries.db(), store_root()


def readable(user: CurrentUser, db: MetadataDB, root: str) -> list[str]:
    """Datasources this user may read (admins also see unregistered ones present in the store)."""
    in_store = queries.datasources_in_store(root) if user.is_admin else ()
    return access.readable_datasources(db, user, in_store=in_store)


def query_params() -> dict[str, list[str]]:
    """The URL's query parameters, every key with all its values."""
    return {key: st.query_params.get_all(key) for key in st.query_params}


def no_access(datasource: str) -> None:
    """The same answer for "does not exist" and "not yours", so links do not reveal names."""
    st.error(f"Datasource `{datasource}` does not exist or you do not have access to it.")
    st.page_link("views/home.py", label="Back to your datasources")
    st.stop()
