"""Page logic with Streamlit's AppTest: sign-in, lists, deep links, filters, permissions, dashboards, alerts."""

from __future__ import annotations

from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from app.app_data import AppData, password
from streamlit_app import accounts, auth, sessions

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app" / "Home.py")


def signed_in(data: AppData, username: str, page: str | None = None, **params: str | list[str]) -> AppTest:
    """The app as ``username`` after a sign-in (a live session in the metadata database, as the form starts)."""
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state[auth.SESSION_KEY] = sessions.start(
        data.db, data.users[username], ttl=timedelta(hours=1)
    ).session_id
    if page:
        at.switch_page(page)
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


class _TableCells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_tables(at: AppTest) -> list[pd.DataFrame]:
    """Every HTML table on the page (``st.html``) as text cells."""
    found = []
    for element in at.get("html"):
        parser = _TableCells()
        parser.feed(element.proto.body)
        if parser.rows:
            found.append(pd.DataFrame(parser.rows[1:], columns=parser.rows[0]))
    return found


def anomaly_table(at: AppTest) -> pd.DataFrame | None:
    """The chart page's anomaly table (an HTML table) as text cells, or None when it is not shown."""
    return next((t for t in html_tables(at) if list(t.columns[:2]) == ["ts", "series"]), None)


def alerts_table(at: AppTest) -> pd.DataFrame | None:
    return next((t for t in html_tables(at) if list(t.columns[:2]) == ["day", "datasource"]), None)


def charts_shown(at: AppTest) -> int:
    return len(at.get("vega_lite_chart"))


def test_signed_out_visitor_sees_only_the_sign_in_form(app_env: AppData) -> None:
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert at.text_input(key="login_username") is not None
    assert not at.get("html")
    assert "Incidents" not in texts(at.title)


def test_sign_in_with_local_password(app_env: AppData) -> None:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="login_username").input("alice")
    at.text_input(key="login_password").input(password("alice"))
    at.button[0].click().run()
    assert not at.exception
    assert "Incidents" in texts(at.title)
    assert "alice" in texts(at.sidebar.caption)


def test_wrong_password_is_refused(app_env: AppData) -> None:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="login_username").input("alice")
    at.text_input(key="login_password").input("not-the-password")
    at.button[0].click().run()
    assert "wrong password" in texts(at.error)
    assert auth.SESSION_KEY not in at.session_state


def datasource_table(at: AppTest) -> pd.DataFrame:
    return next(t for t in html_tables(at) if "health" in t.columns)


def test_home_lists_only_readable_datasources_with_owner_and_anomalies(app_env: AppData) -> None:
    at = signed_in(app_env, "alice")
    table = datasource_table(at)
    assert list(table["datasource"]) == ["shop-recs"]
    assert table.loc[0, "owner team"] == "recsys"
    assert table.loc[0, "last update"] == app_env.end.isoformat()
    assert table.loc[0, "anomalies (7 days)"] == "1"  # the last spike lies in the last week


def test_admin_sees_every_datasource(app_env: AppData) -> None:
    at = signed_in(app_env, "root")
    assert sorted(datasource_table(at)["datasource"]) == ["other-ds", "shop-recs"]


def test_explorer_shows_every_metric_and_searches_by_name(app_env: AppData) -> None:
    at = signed_in(app_env, "alice", "views/explorer.py", datasource="shop-recs")
    assert not at.exception
    assert "rows.count" in texts(at.markdown) and "score.mean" in texts(at.markdown)
    at.text_input(key="explorer_search").input("score").run()
    assert "score.mean" in texts(at.markdown) and "rows.count" not in texts(at.markdown)


def test_explorer_counts_anomalies_per_metric(app_env: AppData) -> None:
    at = signed_in(app_env, "alice", "views/explorer.py", datasource="shop-recs")
    assert "3 series · 3 anomalies" in texts(at.caption)
    assert "3 series · 0 anomalies" in texts(at.caption)


def test_deep_link_opens_metric_with_label_filters_and_range(app_env: AppData) -> None:
    at = signed_in(
        app_env, "alice", "views/chart.py",
        datasource="shop-recs", metric="rows.count", **{"label.region": ["JP", "US"]}, start="2026-03-01", end="2026-03-31",
    )  # fmt: skip
    assert not at.exception
    assert at.selectbox(key="metric_shop-recs").value == "rows.count"
    assert at.multiselect(key="label_shop-recs_rows.count_region").value == ["JP", "US"]
    assert "2 series · 62 points" in texts(at.caption)
    assert charts_shown(at) == 1
    assert "2026-03-01 .. 2026-03-31" in texts(at.caption)


def test_label_filter_narrows_series_and_updates_the_url(app_env: AppData) -> None:
    at = signed_in(app_env, "alice", "views/chart.py", datasource="shop-recs", metric="rows.count")
    assert "3 series" in texts(at.caption)
    at.multiselect(key="label_shop-recs_rows.count_region").select("DE").run()
    assert "1 series" in texts(at.caption)
    assert at.query_params["label.region"] == "DE"


def test_widgets_drawn_after_the_chart_keep_what_the_person_chose(app_env: AppData) -> None:
    """The chart page decides its view before drawing its controls (below the chart in the script, above it on the
    page): a chosen filter, range and metric hold in the following runs and reach the URL."""
    at = signed_in(app_env, "alice", "views/chart.py", datasource="shop-recs", metric="rows.count")
    at.multiselect(key="label_shop-recs_rows.count_region").select("US").run()
    at.date_input(key="range_shop-recs").set_value((date(2026, 3, 1), date(2026, 3, 10))).run()
    assert "1 series · 10 points" in texts(at.caption)
    at.selectbox(key="metric_shop-recs").select("score.mean").run()
    assert not at.exception
    assert at.title[0].value == "score.mean" and "3 series · 30 points" in texts(at.caption)
    assert at.query_params["metric"] == "score.mean" and at.query_params["start"] == "2026-03-01"
    at.multiselect(key="label_shop-recs_score.mean_region").select("DE").run()
    assert "1 series · 10 points" in texts(at.caption) and at.query_params["label.region"] == "DE"


def test_a_link_to_a_missing_metric_says_so_and_shows_the_first_one(app_env: AppData) -> None:
    at = signed_in(app_env, "alice", "views/chart.py", datasource="shop-recs", metric="no.such")
    assert not at.exception
    assert "`no.such` has no points in `shop-recs`; showing `rows.count`." in texts(at.warning)
    assert at.selectbox(key="metric_shop-recs").value == "rows.count"


def test_anomaly_table_shows_detector_and_parameters(app_env: AppData) -> None:
    at = signed_in(app_env, "alice", "views/chart.py", datasource="shop-recs", metric="rows.count", start="2026-01-01")
    table = anomaly_table(at)
    assert list(table.columns) == [
        "ts",
        "series",
        "value",
        "expected",
        "change",
        "lower",
        "upper",
        "score",
        "detector",
        "params",
        "run_id",
    ]
    assert len(table) == 3
    assert list(table["ts"]) == sorted(table["ts"], reverse=True)  # newest first
    assert set(table["detector"]) == {"window"}
    assert table["params"].str.contains('"threshold":4').all()


def test_without_the_band_the_chart_reads_only_flagged_verdicts(
    app_env: AppData, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit_app import charts

    def page() -> AppTest:
        return signed_in(
            app_env, "alice", "views/chart.py", datasource="shop-recs", metric="rows.count", start="2026-01-01"
        )

    full = page()
    monkeypatch.setattr(charts, "BAND_SERIES_LIMIT", 2)  # rows.count has 3 series: no band, flagged verdicts only
    narrow = page()
    assert not narrow.exception
    assert "Expected line and band are drawn for up to 2 series" in texts(narrow.caption)
    assert "3 anomalies" in texts(narrow.caption)
    shown = [anomaly_table(at) for at in (full, narrow)]
    assert len(shown[0]) == 3 and shown[1].equals(shown[0])
    no_verdicts = signed_in(app_env, "alice", "views/chart.py", datasource="shop-recs", metric="score.mean")
    assert "no detector verdicts for this metric" in texts(no_verdicts.caption)


def test_selecting_a_series_narrows_the_anomaly_table(app_env: AppData) -> None:
    at = signed_in(app_env, "alice", "views/chart.py", datasource="shop-recs", metric="rows.count", start="2026-01-01")
    assert set(anomaly_table(at)["series"]) == {"region=DE", "region=JP", "region=US"}
    at.selectbox(key="focus_shop-recs_rows.count").select("region=JP").run()
    assert set(anomaly_table(at)["series"]) == {"region=JP"}


def test_deep_link_to_another_teams_datasource_is_refused(app_env: AppData) -> None:
    at = signed_in(app_env, "bob", "views/chart.py", datasource="shop-recs", metric="rows.count")
    assert "does not exist or you do not have access" in texts(at.error)
    assert anomaly_table(at) is None and charts_shown(at) == 0


def test_explorer_deep_link_to_another_teams_datasource_is_refused(app_env: AppData) -> None:
    at = signed_in(app_env, "bob", "views/explorer.py", datasource="shop-recs")
    assert "does not exist or you do not have access" in texts(at.error)


def test_other_team_does_not_list_the_datasource(app_env: AppData) -> None:
    at = signed_in(app_env, "bob")
    assert list(datasource_table(at)["datasource"]) == ["other-ds"]


def test_dashboard_created_from_a_chart_keeps_its_filters(app_env: AppData) -> None:
    at = signed_in(
        app_env, "alice", "views/chart.py", datasource="shop-recs", metric="rows.count", **{"label.region": "JP"}
    )
    at.toggle(key="dash_open").set_value(True).run()
    at.text_input(key="dash_new_name").input("Regions").run()
    at.button(key="dash_add").click().run()
    assert "Added to **Regions**" in texts(at.success)
    at.switch_page("views/dashboards.py").run()
    assert "Regions" in texts(at.header)
    assert "**rows.count** · `shop-recs`" in texts(at.markdown)


@pytest.fixture
def other_team_dashboard(app_env: AppData) -> AppData:
    """bob's dashboard with a chart of his datasource and one of alice's (e.g. kept after a team change)."""
    from streamlit_app import dashboards
    from streamlit_app.access import load_user
    from streamlit_app.deep_links import ChartView

    bob = load_user(app_env.db, app_env.users["bob"])
    board = dashboards.create_dashboard(app_env.db, bob, "Bob's board")
    dashboards.add_chart(app_env.db, bob, board, ChartView("other-ds", "rows.count"), time_range="30d")
    # Written directly: the app never lets bob add a chart he cannot read, but access can be revoked later.
    with app_env.db.session() as session:
        from lupus_store.metadata import DashboardChart

        session.add(
            DashboardChart(
                dashboard_id=board, position=5, datasource="shop-recs", metric="rows.count", time_range="30d"
            )
        )
    return app_env


def test_dashboard_charts_of_unreadable_datasources_are_withheld(other_team_dashboard: AppData) -> None:
    at = signed_in(other_team_dashboard, "bob", "views/dashboards.py")
    assert "You do not have access to `shop-recs`" in texts(at.warning)
    assert "**rows.count** · `other-ds`" in texts(at.markdown)


def test_private_dashboard_is_invisible_to_other_users(other_team_dashboard: AppData) -> None:
    at = signed_in(other_team_dashboard, "alice", "views/dashboards.py")
    names = at.selectbox(key="dashboard_pick").options if at.selectbox else []
    assert "Bob's board" not in names and "Bob's board" not in texts(at.header)


def record_incident(data: AppData, product: str = "shop") -> int:
    """Five churn.rate alerts of shop-recs on the last day, as the alert sensor records them: one incident."""
    from lupus_metrics.schema import series_id
    from lupus_store.incidents import Alert, Candidate, IncidentStore, chart_link

    day = data.end
    store = IncidentStore(data.db)
    store.record([
        Candidate(product, "shop-recs", series_id("shop-recs", "churn.rate", {"segment": s, "for": product}), day, "anomaly",
                  "churn.rate", 4.0 + i, Alert(kind="anomaly", metric="churn.rate", labels={"segment": s},
                  value=0.31, expected=0.25, link=chart_link("shop-recs", "churn.rate", {"segment": s}, day)),
                  rule="detect[0]", team="recsys")
        for i, s in enumerate("abcde")
    ])  # fmt: skip
    return max(i.id for i in store.incidents(product=product))


def test_alerts_show_one_row_per_incident_with_its_series_and_chart_links(app_env: AppData) -> None:
    incident = record_incident(app_env)
    at = signed_in(app_env, "alice", "views/alerts.py")
    assert not at.exception
    board = next(t for t in html_tables(at) if "headline" in t.columns)
    row = board[board["incident"] == f"#{incident}"]
    assert len(row) == 1 and row["status"].item() == "open" and row["members"].item() == "5"
    assert row["headline"].item().startswith("shop: churn.rate for segment=e 0.31 vs 0.25 expected (+24 %)")
    members = next(t for t in html_tables(at) if "rule" in t.columns)
    assert sorted(members["series"]) == [f"segment={s}" for s in "abcde"]
    assert set(members["value"]) == {"31%"} and set(members["change"]) == {"+24%"}
    body = next(e.proto.body for e in at.get("html") if f"members incident-{incident}" in e.proto.body)
    for s in "abcde":
        assert f'href="/chart?datasource=shop-recs&amp;metric=churn.rate&amp;label.segment={s}&amp;' in body
    # The store's own anomaly of the last week is in no incident: listed below with its chart link.
    loose = next(t for t in html_tables(at) if list(t.columns[:2]) == ["day", "datasource"])
    assert set(loose["metric"]) == {"rows.count"} and loose["series"].iloc[0] == "region=DE"


def test_acknowledge_with_a_verdict_is_stored_and_counts_in_rule_precision(app_env: AppData) -> None:
    from lupus_store.incidents import IncidentStore

    incident = record_incident(app_env, product="ack")
    at = signed_in(app_env, "alice", "views/alerts.py")
    at.radio(key=f"ack_verdict_{incident}").set_value("false_alarm")
    at.text_input(key=f"ack_note_{incident}").input("holiday traffic")
    at.button(key=f"ack_button_{incident}").click().run()
    assert not at.exception
    stored = IncidentStore(app_env.db).incident(incident)
    assert (stored.status, stored.verdict, stored.note, stored.acknowledged_by) == (
        "acknowledged",
        "false_alarm",
        "holiday traffic",
        "alice",
    )
    assert f"Incident #{incident} acknowledged: false alarm." in texts(at.success)
    precision = next(t for t in html_tables(at) if "precision" in t.columns)
    assert precision[precision["product"] == "ack"]["precision"].item() == "0% (0 of 1 real)"


def test_silence_from_the_row_is_stored_with_prefilled_matchers(app_env: AppData) -> None:
    from lupus_store.incidents import IncidentStore

    incident = record_incident(app_env, product="mute")
    at = signed_in(app_env, "alice", "views/alerts.py")
    assert at.text_input(key=f"silence_metric_{incident}").value == "churn.rate"
    assert at.text_input(key=f"silence_labels_{incident}").value == ""  # the five segments share no label
    at.text_input(key=f"silence_labels_{incident}").input("segment=*")
    at.text_input(key=f"silence_reason_{incident}").input("segment migration")
    at.button(key=f"silence_button_{incident}").click().run()
    assert not at.exception
    [silence] = [s for s in IncidentStore(app_env.db).silences(datasources=["shop-recs"]) if s.product == "mute"]
    assert (silence.metric, silence.labels, silence.author, silence.reason) == (
        "churn.rate",
        {"segment": "*"},
        "alice",
        "segment migration",
    )
    assert silence.active() and silence.matches("shop-recs", "mute", "churn.rate", {"segment": "c"})
    silences = next(t for t in html_tables(at) if "reason" in t.columns)
    assert "segment migration" in set(silences["reason"])


def test_a_silence_without_a_reason_is_refused_with_the_field_named(app_env: AppData) -> None:
    from lupus_store.incidents import IncidentStore

    incident = record_incident(app_env, product="noreason")
    at = signed_in(app_env, "alice", "views/alerts.py")
    at.button(key=f"silence_button_{incident}").click().run()
    assert "reason" in texts(at.error) and "Silence not saved" in texts(at.error)
    assert not [s for s in IncidentStore(app_env.db).silences() if s.product == "noreason"]


def test_acknowledge_and_silence_need_write_access_to_the_datasource(app_env: AppData) -> None:
    """A reader sees the incident but cannot change its alert state; a write permission can (as the API asks)."""
    from lupus_store.incidents import IncidentStore

    incident = record_incident(app_env, product="perm")
    accounts.grant(app_env.db, "shop-recs", "viewers", "read")
    accounts.grant(app_env.db, "shop-recs", "editors", "write")
    app_env.users["reader"] = accounts.add_user(app_env.db, "reader", teams=["viewers"])
    app_env.users["editor"] = accounts.add_user(app_env.db, "editor", teams=["editors"])
    reader = signed_in(app_env, "reader", "views/alerts.py")
    assert not reader.exception
    board = next(t for t in html_tables(reader) if "headline" in t.columns)
    assert f"#{incident}" in set(board["incident"])  # reading is allowed
    assert not [b for b in reader.button if b.key in (f"ack_button_{incident}", f"silence_button_{incident}")]
    assert "need write access to `shop-recs`" in texts(reader.caption)
    editor = signed_in(app_env, "editor", "views/alerts.py")
    editor.radio(key=f"ack_verdict_{incident}").set_value("expected")
    editor.button(key=f"ack_button_{incident}").click().run()
    assert not editor.exception
    assert IncidentStore(app_env.db).incident(incident).acknowledged_by == "editor"
