"""Sign-in sessions in Debian's Chromium against a real `streamlit run streamlit_app/server.py`: the HttpOnly cookie,
reloads, new tabs, sign-out in every tab, the cookie route's refusals; and the app's routes and toolbar."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.app_data import AppData, build, password
from app.browser import ARTIFACTS, StreamlitServer, chart_layers, shot, sign_in, wait_idle
from streamlit_app import sessions

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHART = "/chart?datasource=shop-recs&metric=rows.count&label.region=JP&start=2026-01-31&end=2026-03-31"
SESSION_HOURS = 2


@pytest.fixture(scope="module")
def session_data(tmp_path_factory: pytest.TempPathFactory) -> AppData:
    return build(tmp_path_factory.mktemp("session_home"), days=60)


@pytest.fixture(scope="module")
def server(session_data: AppData, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamlitServer]:
    env = {
        "LUPUS_HOME": str(session_data.home),
        "LUPUS_UI_TODAY": "2026-04-01",
        "LUPUS_UI_SESSION_HOURS": str(SESSION_HOURS),
    }
    srv = StreamlitServer(env, cwd=tmp_path_factory.mktemp("cwd"), log=ARTIFACTS / "streamlit-sessions.log").start()
    yield srv
    srv.stop()


@pytest.fixture
def context(browser) -> Iterator[object]:
    """One browser profile (shared cookies) for several tabs."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, timezone_id="UTC")
    ctx.set_default_timeout(30_000)
    yield ctx
    ctx.close()


def session_cookie(context, *, timeout: float = 10.0) -> dict | None:
    """The app's session cookie as the browser stores it, waiting up to ``timeout`` for it to appear."""
    deadline = time.monotonic() + timeout
    while True:
        found = [c for c in context.cookies() if c["name"] == sessions.COOKIE_NAME]
        if found or time.monotonic() > deadline:
            return found[0] if found else None
        time.sleep(0.1)


def signed_in_tab(server: StreamlitServer, context, path: str = CHART):
    page = context.new_page()
    page.goto(server.url + path)
    sign_in(page, "alice", password("alice"))
    assert session_cookie(context) is not None, "the sign-in did not set the session cookie"
    return page


def shows_sign_in_form(page, timeout: float = 30_000) -> bool:
    page.get_by_label("Username").wait_for(timeout=timeout)
    return page.get_by_text("Signed in as").count() == 0


def test_sign_in_sets_an_httponly_lax_cookie_for_the_configured_time(server, context) -> None:
    signed_in_tab(server, context)
    cookie = session_cookie(context)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/"
    lifetime = cookie["expires"] - datetime.now(UTC).timestamp()
    assert abs(lifetime - SESSION_HOURS * 3600) < 120
    page = context.new_page()
    page.goto(server.url + "/")
    assert page.evaluate("document.cookie").find(sessions.COOKIE_NAME) == -1  # page scripts cannot read it


def test_reload_keeps_the_session_and_renders_the_linked_chart(server, context) -> None:
    page = signed_in_tab(server, context)
    chart_layers(page, want="anomaly")
    page.reload()
    layers = chart_layers(page, want="anomaly")
    assert {row["series"] for row in layers["series"]} == {"region=JP"}
    assert page.get_by_label("Username").count() == 0
    page.get_by_text("Signed in as alice").wait_for()
    shot(page, "session-after-reload")


def test_a_new_tab_opens_a_deep_link_signed_in(server, context) -> None:
    signed_in_tab(server, context, "/")
    tab = context.new_page()
    tab.goto(server.url + CHART)
    layers = chart_layers(tab, want="anomaly")
    assert {row["series"] for row in layers["series"]} == {"region=JP"}
    tab.get_by_text("Signed in as alice").wait_for()


def test_sign_out_ends_the_session_in_every_tab(server, context, browser) -> None:
    first = signed_in_tab(server, context, "/")
    stolen = session_cookie(context)
    second = context.new_page()
    second.goto(server.url + "/explorer?datasource=shop-recs")
    second.get_by_text("Signed in as alice").wait_for()
    first.get_by_role("button", name="Sign out").click()
    assert shows_sign_in_form(first)
    # The other tab's next interaction (here: a page in its sidebar) finds the session ended.
    second.get_by_role("link", name="Dashboards").click()
    assert shows_sign_in_form(second)
    shot(second, "session-signed-out-elsewhere")
    second.reload()
    assert shows_sign_in_form(second)
    deadline = time.monotonic() + 10
    while session_cookie(context, timeout=0) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert session_cookie(context, timeout=0) is None, "sign-out left the cookie in the browser"
    # A copy of the cookie taken before the sign-out opens nothing: the session is revoked on the server.
    other = browser.new_context(viewport={"width": 1400, "height": 1000})
    other.add_cookies([{k: stolen[k] for k in ("name", "value", "domain", "path", "httpOnly", "sameSite")}])
    replay = other.new_page()
    replay.goto(server.url + CHART)
    assert shows_sign_in_form(replay)
    other.close()


def test_a_wrong_password_sets_no_cookie(server, context) -> None:
    page = context.new_page()
    page.goto(server.url + "/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password", exact=True).fill("wrong")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_text("Unknown user or wrong password").wait_for()
    assert session_cookie(context, timeout=1) is None


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_the_cookie_route_refuses_other_sites_bad_bodies_and_unknown_codes(server, session_data) -> None:
    url = f"{server.url}/_lupus/session"
    code = sessions.start(session_data.db, session_data.users["alice"], ttl=sessions.ttl_from_env()).handoff_code
    body = json.dumps({"code": code}).encode()
    assert post(url, body, {"Content-Type": "application/json", "Origin": "https://evil.example"}) == 403
    assert post(url, b"not json", {"Content-Type": "application/json"}) == 400
    assert post(url, json.dumps({"code": "guessed"}).encode(), {"Content-Type": "application/json"}) == 403
    assert post(url, body, {"Content-Type": "application/json", "Origin": server.url}) == 204
    assert post(url, body, {"Content-Type": "application/json", "Origin": server.url}) == 403  # spent


DOCUMENTED_ROUTES = {  # docs/app.md, the table of pages
    "/": "Datasources",
    "/home": "Datasources",
    "/explorer?datasource=shop-recs": "Search metrics",
    "/chart?datasource=shop-recs&metric=rows.count": "rows.count",
    "/dashboards": "Dashboards",
    "/alerts": "Alerts",
}


def test_every_documented_route_answers(server, context) -> None:
    page = signed_in_tab(server, context, "/")
    for path, marker in DOCUMENTED_ROUTES.items():
        page.goto(server.url + path)
        page.get_by_text(marker).first.wait_for()
        wait_idle(page)
        assert page.get_by_text("Page not found").count() == 0, path
        assert page.get_by_text("Signed in as alice").count() == 1, path


def test_no_deploy_button_and_nothing_leaves_the_machine(server, context) -> None:
    hosts: set[str] = set()
    context.on("request", lambda request: hosts.add(request.url.split("/")[2]))
    page = signed_in_tab(server, context, "/")
    wait_idle(page)
    page.wait_for_timeout(2000)  # Streamlit's usage statistics would go out right after the first render
    assert page.get_by_role("button", name="Deploy").count() == 0
    assert page.locator('[data-testid="stAppDeployButton"]').count() == 0
    assert hosts == {f"127.0.0.1:{server.port}"}, hosts


def test_lupus_serve_ui_serves_the_app_with_its_cookie_route(session_data, tmp_path) -> None:
    import os
    import signal
    import subprocess
    import sys

    from services.ports import free_port, wait_for_port

    port = free_port()
    env = {**os.environ, "LUPUS_HOME": str(session_data.home)}
    lupus = [str(Path(sys.executable).with_name("lupus")), "serve", "ui", "--port", str(port)]
    with (tmp_path / "serve-ui.log").open("wb") as log:
        process = subprocess.Popen(
            lupus, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_for_port(port, timeout=60, what="lupus serve ui")
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.2)
        assert post(f"{url}/_lupus/session", json.dumps({"code": "guessed"}).encode(), {}) == 403  # route is there
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
