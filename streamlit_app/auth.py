"""Sign-in: local accounts (Argon2id-hashed passwords in the metadata database) and OpenID Connect.

OpenID Connect goes through ``st.login`` and is offered only when ``.streamlit/secrets.toml``
has an ``[auth]`` section (``redirect_uri``, ``cookie_secret``, ``client_id``,
``client_secret``, ``server_metadata_url``). ``st.user.is_logged_in`` raises when
``[auth]`` is absent, so it is consulted only after :func:`oidc_configured`.
"""

from __future__ import annotations

import streamlit as st

from lupus_store.metadata import MetadataDB
from streamlit_app import accounts
from streamlit_app.access import CurrentUser, load_user

SESSION_KEY = "lupus_user_id"
FAILED_KEY = "lupus_sign_in_failed"


def oidc_configured() -> bool:
    """True when an ``[auth]`` section is configured in Streamlit's secrets."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all: Streamlit raises instead of answering False
        return False


def _oidc_logged_in() -> bool:
    try:
        return bool(st.user.is_logged_in)
    except Exception:  # a half-configured [auth] raises here too; treat it as "not signed in"
        return False


def current_user(db: MetadataDB) -> CurrentUser | None:
    """The signed-in user of this browser session, or None.

    An OpenID Connect identity is mapped to a Lupus user on first sight (see
    :func:`streamlit_app.accounts.oidc_user`).
    """
    user_id = st.session_state.get(SESSION_KEY)
    if user_id is None and oidc_configured() and _oidc_logged_in():
        subject = str(st.user.get("sub"))
        user_id = accounts.oidc_user(db, subject, email=st.user.get("email"), name=st.user.get("name"))
        st.session_state[SESSION_KEY] = user_id
    if user_id is None:
        return None
    user = load_user(db, user_id)
    if user is None:  # deactivated or deleted since sign-in
        st.session_state.pop(SESSION_KEY, None)
    return user


def login_form(db: MetadataDB) -> None:
    """The sign-in page: a local account form, and the OpenID Connect button when configured."""
    st.title("Lupus")
    st.caption("Sign in to see your teams' metrics and anomalies.")
    if oidc_configured():
        if st.button("Sign in with single sign-on", key="oidc_login", type="primary"):
            st.login()
        st.divider()
    with st.form("login", clear_on_submit=False):
        st.text_input("Username", key="login_username")
        st.text_input("Password", type="password", key="login_password")
        # A callback, not a check after the button: it runs before the next script run, so that run already
        # renders the requested page (same URL and query parameters) as the signed-in user. Checking after the
        # button and calling st.rerun() ran the entry script twice per sign-in.
        st.form_submit_button("Sign in", on_click=_sign_in, args=(db,))
    if st.session_state.pop(FAILED_KEY, False):
        st.error("Unknown user or wrong password.")


def _sign_in(db: MetadataDB) -> None:
    username = str(st.session_state.get("login_username") or "").strip()
    user_id = accounts.authenticate(db, username, str(st.session_state.get("login_password") or ""))
    if user_id is None:
        st.session_state[FAILED_KEY] = True
    else:
        st.session_state[SESSION_KEY] = user_id


def logout() -> None:
    """Forget the local sign-in; also end the OpenID Connect session when there is one."""
    st.session_state.pop(SESSION_KEY, None)
    if oidc_configured() and _oidc_logged_in():
        st.logout()
    st.rerun()
