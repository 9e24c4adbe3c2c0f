"""OpenID Connect sign-in through `st.login` against a mock identity provider on 127.0.0.1."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect
from services.ports import free_port

from app.app_data import AppData, build
from app.browser import ARTIFACTS, StreamlitServer, shot
from streamlit_app import accounts, sessions

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def identity_provider() -> Iterator[str]:
    """oidc-provider-mock in a thread; any client id/secret is accepted, the user picks a subject."""
    from oidc_provider_mock import User, run_server_in_thread

    carol = User(sub="oidc-carol", claims={"email": "carol@example.com", "name": "Carol"})
    with run_server_in_thread(port=free_port(), user_claims=[carol]) as server:
        yield f"http://127.0.0.1:{server.server_port}"


@pytest.fixture(scope="module")
def oidc_data(tmp_path_factory: pytest.TempPathFactory) -> AppData:
    data = build(tmp_path_factory.mktemp("oidc_home"), days=14)
    accounts.add_user(data.db, "carol@example.com", teams=["recsys"])  # pre-created by an admin, no password
    return data


@pytest.fixture(scope="module")
def oidc_server(oidc_data: AppData, identity_provider: str, tmp_path_factory) -> Iterator[StreamlitServer]:
    cwd = tmp_path_factory.mktemp("oidc_cwd")
    server = StreamlitServer({"LUPUS_HOME": str(oidc_data.home)}, cwd=cwd, log=ARTIFACTS / "streamlit-oidc.log")
    (cwd / ".streamlit").mkdir()
    (cwd / ".streamlit" / "secrets.toml").write_text(
        "[auth]\n"
        f'redirect_uri = "{server.url}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_hex(16)}"\n'
        'client_id = "lupus"\n'
        'client_secret = "lupus-secret"\n'
        f'server_metadata_url = "{identity_provider}/.well-known/openid-configuration"\n'
    )
    yield server.start()
    server.stop()


def test_single_sign_on_maps_the_identity_to_the_precreated_account(
    oidc_server: StreamlitServer, page, oidc_data
) -> None:
    page.goto(oidc_server.url + "/")
    page.get_by_role("button", name="Sign in with single sign-on").click()
    page.locator('input[name="sub"]').fill("oidc-carol")
    page.get_by_role("button", name="Authorize").click()
    page.get_by_text("Signed in as carol@example.com").wait_for(timeout=60_000)
    page.get_by_role("link", name="Explore shop-recs").wait_for()
    shot(page, "home-oidc")
    links = [text.strip() for text in page.get_by_role("link").all_inner_texts()]
    assert [text for text in links if text.startswith("Explore ")] == ["Explore shop-recs"]
    from sqlalchemy import select

    from lupus_store.metadata import User

    with oidc_data.db.session() as session:
        assert session.scalar(select(User.oidc_subject).where(User.username == "carol@example.com")) == "oidc-carol"


def test_local_form_stays_available_next_to_single_sign_on(oidc_server: StreamlitServer, page) -> None:
    page.goto(oidc_server.url + "/")
    page.get_by_role("button", name="Sign in with single sign-on").wait_for()
    page.get_by_label("Username").wait_for()  # raises if the local form never renders
    assert page.get_by_label("Password", exact=True).is_visible()


def sso_sign_in(page, url: str) -> None:
    page.goto(url + "/")
    page.get_by_role("button", name="Sign in with single sign-on").click()
    page.locator('input[name="sub"]').fill("oidc-carol")
    page.get_by_role("button", name="Authorize").click()
    page.get_by_text("Signed in as carol@example.com").wait_for(timeout=60_000)


def test_single_sign_on_lasts_across_reloads_and_tabs_until_sign_out(oidc_server: StreamlitServer, browser) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    first = context.new_page()
    sso_sign_in(first, oidc_server.url)
    deadline = time.monotonic() + 10
    while not any(c["name"] == sessions.COOKIE_NAME for c in context.cookies()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert any(c["name"] == sessions.COOKIE_NAME and c["httpOnly"] for c in context.cookies())
    first.reload()
    first.get_by_text("Signed in as carol@example.com").wait_for()
    second = context.new_page()
    second.goto(oidc_server.url + "/explorer?datasource=shop-recs")
    second.get_by_text("Signed in as carol@example.com").wait_for()
    first.get_by_role("button", name="Sign out").click()
    first.get_by_role("button", name="End session").click()  # the identity provider's own sign-out page
    first.get_by_role("button", name="Sign in with single sign-on").wait_for(timeout=60_000)
    expect(first.get_by_text("Signed in as")).to_have_count(0)
    # The other tab still holds the identity provider's identity in its connection; the revoked session
    # keeps that identity from signing in again on the tab's next interaction.
    second.get_by_role("link", name="Dashboards").click()
    second.get_by_role("button", name="Sign in with single sign-on").wait_for()
    # A rerun's stale elements stay on the page until it finishes: wait for the sidebar to be redrawn.
    expect(second.get_by_text("Signed in as")).to_have_count(0)
    shot(second, "oidc-signed-out-elsewhere")
    context.close()
