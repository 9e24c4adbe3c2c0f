"""Sign-in: local accounts (Argon2id-hashed passwords in the metadata database) and OpenID Connect, kept across
reloads and tabs by a server-side session and an HttpOnly cookie (:mod:`streamlit_app.sessions`).

OpenID Connect goes through ``st.login`` and is offered only when ``.streamlit/secrets.toml``
has an ``[auth]`` section (``redirect_uri``, ``cookie_secret``, ``client_id``,
``client_secret``, ``server_metadata_url``). ``st.user.is_logged_in`` raises when
``[auth]`` is absent, so it is consulted only after :func:`oidc_configured`.

Every script run checks the session in the database, so a sign-out (or an expired session, or a
deactivated account) ends it in every tab on that tab's next interaction, and on any reload.
"""

from __future__ import annotations

import json

import streamlit as st

from lupus_store.metadata import MetadataDB
from streamlit_app import accounts, sessions
from streamlit_app.access import CurrentUser, load_user

SESSION_KEY = "lupus_session_id"
FAILED_KEY = "lupus_sign_in_failed"
HANDOFF_KEY = "lupus_session_handoff"  # a sign-in's one-time code, until the page hands it to the browser
CLEAR_COOKIE_KEY = "lupus_clear_cookie"


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


def _cookie_token() -> str | None:
    try:
        value = st.context.cookies.get(sessions.COOKIE_NAME)
    except Exception:  # no browser connection (bare mode): no cookies
        return None
    return value if isinstance(value, str) and value else None  # AppTest's context answers with stand-ins


def current_user(db: MetadataDB) -> CurrentUser | None:
    """The signed-in user of this browser tab, or None.

    The session started in this tab (its id is in ``st.session_state``) or, on a reload or in a new
    tab, the one named by the cookie. A single sign-on identity without a live session starts one
    (mapped to a Lupus user on first sight, see :func:`streamlit_app.accounts.oidc_user`), unless
    that identity signed out.
    """
    session_id = st.session_state.get(SESSION_KEY)
    token = _cookie_token()
    live = sessions.resolve(db, session_id=session_id) if session_id is not None else None
    if live is None and session_id is None and token:
        live = sessions.resolve(db, token=token)
        if live is None:
            st.session_state[CLEAR_COOKIE_KEY] = True  # expired or signed out elsewhere: forget the stale cookie
    if live is None and oidc_configured() and _oidc_logged_in():
        live = _start_oidc_session(db)
    if live is None:
        st.session_state.pop(SESSION_KEY, None)
        return None
    st.session_state[SESSION_KEY] = live.session_id
    user = load_user(db, live.user_id)
    if user is None:  # deactivated or deleted since sign-in
        sessions.revoke(db, session_id=live.session_id)
        st.session_state.pop(SESSION_KEY, None)
    return user


def _start_oidc_session(db: MetadataDB) -> sessions.Session | None:
    claims = st.user.to_dict()
    identity = sessions.oidc_identity(claims)
    if sessions.identity_signed_out(db, identity):
        return None  # this tab still holds the identity of a login that signed out (in another tab)
    user_id = accounts.oidc_user(db, str(claims.get("sub")), email=claims.get("email"), name=claims.get("name"))
    return _start(db, user_id, source="oidc", oidc_identity=identity)


def _start(db: MetadataDB, user_id: int, **kwargs) -> sessions.Session | None:
    started = sessions.start(db, user_id, ttl=sessions.ttl_from_env(), **kwargs)
    st.session_state[SESSION_KEY] = started.session_id
    st.session_state[HANDOFF_KEY] = started.handoff_code
    return sessions.resolve(db, session_id=started.session_id)


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
    cookie_script()


def _sign_in(db: MetadataDB) -> None:
    username = str(st.session_state.get("login_username") or "").strip()
    user_id = accounts.authenticate(db, username, str(st.session_state.get("login_password") or ""))
    st.session_state.pop("login_password", None)  # the password does not stay in the session's memory
    if user_id is None:
        st.session_state[FAILED_KEY] = True
    else:
        _start(db, user_id)


def sign_out(db: MetadataDB) -> None:
    """End this sign-in for every tab (the session is revoked in the database), then forget the cookie;
    with single sign-on, also end the identity provider's session (``st.logout``)."""
    sessions.revoke(db, session_id=st.session_state.pop(SESSION_KEY, None), token=_cookie_token())
    st.session_state.pop(HANDOFF_KEY, None)
    st.session_state[CLEAR_COOKIE_KEY] = True
    if oidc_configured() and _oidc_logged_in():
        st.logout()


def cookie_script() -> None:
    """Hand a pending sign-in code to the browser, or drop a stale cookie, through the app's session route.

    The script posts to ``_lupus/session`` relative to the page, so it also works under a
    ``server.baseUrlPath``; the route answers with ``Set-Cookie`` (HttpOnly: this script never sees the
    token). Where the route does not exist (``streamlit run Home.py``) the sign-in just lasts for the tab.
    """
    code = st.session_state.pop(HANDOFF_KEY, None)
    if code:
        body = json.dumps({"code": code})
        call = f"fetch('_lupus/session', {{method: 'POST', credentials: 'same-origin', headers: {{'Content-Type': 'application/json'}}, body: {json.dumps(body)}}})"
    elif st.session_state.pop(CLEAR_COOKIE_KEY, False):
        call = "fetch('_lupus/session', {method: 'DELETE', credentials: 'same-origin'})"
    else:
        return
    # A hidden element; the code is spent by the first request and expires after a minute anyway.
    st.html(f"<div data-lupus-session hidden><script>{call};</script></div>", unsafe_allow_javascript=True)
