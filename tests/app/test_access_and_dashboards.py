"""Plain-Python rules of the app on SQLite and PostgreSQL: who reads what, dashboards, the incident board, CLI."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
from typer.testing import CliRunner

from lupus_store.metadata import MetadataDB
from streamlit_app import accounts, alert_items, annotations, dashboards, incident_board
from streamlit_app.access import can_read, load_user, readable_datasources
from streamlit_app.deep_links import ChartView, parse, to_params


@pytest.fixture
def db(metadata_url: str) -> MetadataDB:
    database = MetadataDB(metadata_url)
    database.upgrade()
    accounts.register_datasource(database, "recs", team="recsys")
    accounts.register_datasource(database, "ads", team="adtech")
    return database


def user(db: MetadataDB, name: str, teams: list[str], **kwargs):
    return load_user(db, accounts.add_user(db, name, teams=teams, password=f"{name}-password", **kwargs))


def test_owner_team_reads_its_datasource_only(db: MetadataDB) -> None:
    alice = user(db, "alice", ["recsys"])
    assert readable_datasources(db, alice) == ["recs"]
    assert can_read(db, alice, "recs") and not can_read(db, alice, "ads")


def test_a_grant_lets_another_team_read(db: MetadataDB) -> None:
    bob = user(db, "bob", ["adtech"])
    accounts.grant(db, "recs", "adtech", "read")
    assert readable_datasources(db, bob) == ["ads", "recs"]


def test_user_without_team_reads_nothing_and_admin_reads_all(db: MetadataDB) -> None:
    assert readable_datasources(db, user(db, "nobody", [])) == []
    root = user(db, "root", [], is_admin=True)
    assert readable_datasources(db, root, in_store=["unregistered"]) == ["ads", "recs", "unregistered"]


def test_passwords_are_hashed_and_checked(db: MetadataDB) -> None:
    user_id = accounts.add_user(db, "carol", teams=["recsys"], password="carol-password")
    assert accounts.authenticate(db, "carol", "carol-password") == user_id
    assert accounts.authenticate(db, "carol", "wrong") is None
    assert accounts.authenticate(db, "nobody", "carol-password") is None


def test_dashboard_charts_reorder_and_remove(db: MetadataDB) -> None:
    alice = user(db, "alice", ["recsys"])
    board = dashboards.create_dashboard(db, alice, "Mine")
    ids = [dashboards.add_chart(db, alice, board, ChartView("recs", m), time_range="30d") for m in ("a", "b", "c")]
    dashboards.move_chart(db, alice, board, ids[2], -1)
    assert [c.view.metric for c in dashboards.get_dashboard(db, alice, board).charts] == ["a", "c", "b"]
    dashboards.remove_chart(db, alice, board, ids[0])
    assert [c.view.metric for c in dashboards.get_dashboard(db, alice, board).charts] == ["c", "b"]


def test_dashboard_keeps_label_filters(db: MetadataDB) -> None:
    alice = user(db, "alice", ["recsys"])
    board = dashboards.create_dashboard(db, alice, "Mine")
    dashboards.add_chart(db, alice, board, ChartView("recs", "rows.count", {"region": ("JP", "US")}), time_range="7d")
    chart = dashboards.get_dashboard(db, alice, board).charts[0]
    assert chart.view.labels == {"region": ("JP", "US")} and chart.time_range == "7d"


def test_shared_dashboard_is_visible_to_the_team_but_not_editable(db: MetadataDB) -> None:
    alice = user(db, "alice", ["recsys"])
    dave = user(db, "dave", ["recsys"])
    board = dashboards.create_dashboard(db, alice, "Team board")
    assert dashboards.list_dashboards(db, dave) == []
    dashboards.share_dashboard(db, alice, board, next(iter(alice.teams)))
    assert [d.name for d in dashboards.list_dashboards(db, dave)] == ["Team board"]
    with pytest.raises(dashboards.DashboardError):
        dashboards.rename_dashboard(db, dave, board, "Taken over")


def test_sharing_with_a_team_you_are_not_in_is_refused(db: MetadataDB) -> None:
    alice = user(db, "alice", ["recsys"])
    other_team = accounts.ensure_team(db, "adtech")
    board = dashboards.create_dashboard(db, alice, "Mine")
    with pytest.raises(dashboards.DashboardError):
        dashboards.share_dashboard(db, alice, board, other_team)


def record(db: MetadataDB, *candidates) -> None:
    """Alert states as the alert sensor records them (the incident store, lupus_store.incidents)."""
    from lupus_store.incidents.records import record as record_candidates

    record_candidates(db, list(candidates))


def test_board_rows_read_headline_change_slices_and_link_to_the_lead_chart(db: MetadataDB) -> None:
    from lupus_store.incidents import Alert, Candidate, IncidentStore, chart_link

    day = date(2026, 3, 30)
    cause = {"metric": "ranking.ndcg", "labels": {}, "kind": "ratio", "actual": 0.3, "expected": 0.4, "slices": [
        {"labels": {"region": "JP"}, "share": 0.92, "effect": "rate"}, {"labels": {"region": "DE"}, "share": 0.06,
                                                                         "effect": "rate"}]}  # fmt: skip
    record(db,
        Candidate("rec", "recs", "jp", day, "anomaly", "ranking.ndcg", 9.0,
                  Alert("anomaly", "ranking.ndcg", {"region": "JP"}, value=0.1, expected=0.4,
                        link=chart_link("recs", "ranking.ndcg", {"region": "JP"}, day, base_url="http://ui:1/x")),
                  team="recsys"),
        Candidate("rec", "recs", "all", day, "anomaly", "ranking.ndcg", 5.0,
                  Alert("anomaly", "ranking.ndcg", {}, value=0.3, expected=0.4, root_cause=cause), team="recsys"),
        Candidate("ad", "ads", "x", day, "check", "ge", 3.0, Alert("check", None, check="ge", concerns=["rows.count"])),
    )  # fmt: skip
    [mine] = incident_board.board_incidents(db, ["recs"], today=day + timedelta(days=2))
    row = incident_board.board_row(mine, today=day + timedelta(days=2))
    assert row.headline.startswith("rec: ranking.ndcg for region=JP 0.1 vs 0.4 expected (−75 %) on 2026-03-30")
    assert (row.since, row.change, row.status, row.team) == ("2026-03-30 (2 days ago)", "-75%", "open", "recsys")
    assert row.top_slices == "ranking.ndcg drop: region=JP 92 %, region=DE 6 %"
    assert row.chart == (f"/chart?datasource=recs&metric=ranking.ndcg&label.region=JP&incident={row.id}")
    assert incident_board.root_cause_sentences(mine, "ranking.ndcg") == [
        "region=JP explains 92 % of the ranking.ndcg drop"
    ]
    [check] = incident_board.board_incidents(db, ["ads"], today=day)
    assert (
        incident_board.board_row(check, today=day).chart
        == f"/chart?datasource=ads&metric=rows.count&incident={check.id}"
    )
    IncidentStore(db).resolve(mine.id, by="alice")
    assert incident_board.board_incidents(db, ["recs"], today=day + timedelta(days=30))[0].status == "resolved"
    assert incident_board.board_incidents(db, ["recs"], today=day + timedelta(days=91)) == []


def test_health_is_the_worst_of_open_incident_failed_check_late_and_fine(db: MetadataDB) -> None:
    from lupus_store.incidents import Alert, Candidate, IncidentStore

    day, today = date(2026, 3, 30), date(2026, 3, 31)
    record(db, Candidate("ad", "ads", "x", day, "check", "ge", 3.0, Alert("check", None, check="ge")))
    found = incident_board.board_incidents(db, ["ads", "recs"], today=today)
    assert incident_board.health("ads", found, last_day=day, today=today) == "open incident"
    assert incident_board.health("recs", found, last_day=day, today=today) == "fine"
    assert incident_board.health("recs", found, last_day=today - timedelta(days=3), today=today) == "late"
    assert incident_board.health("recs", found, last_day=None, today=today) == "late"
    IncidentStore(db).resolve(found[0].id, by="alice")
    found = incident_board.board_incidents(db, ["ads"], today=today)
    assert incident_board.health("ads", found, last_day=day, today=today) == "failed check"
    assert incident_board.health("ads", found, last_day=day, today=today + timedelta(days=8)) == "late"


def test_store_anomalies_outside_incidents_are_listed_once_per_series_and_day() -> None:
    anomalies = pd.DataFrame({
        "metric": ["m", "m", "m"], "label_text": ["region=JP"] * 3, "series_id": ["s1", "s1", "s2"],
        "labels": [{"region": "JP"}] * 3, "value": [1.0, 2.0, 3.0], "expected": [1.0, 1.0, 1.0],
        "ts": pd.to_datetime(["2026-03-30 00:00", "2026-03-30 12:00", "2026-03-29 00:00"], utc=True),
        "score": [3.0, -5.0, 4.0],
    })  # fmt: skip
    loose = alert_items.loose_anomalies({"recs": anomalies}, known={("s2", date(2026, 3, 29))})
    assert loose[["day", "value", "score"]].values.tolist() == [["2026-03-30", "2", "-5"]]
    assert loose.loc[0, "link"].startswith("/chart?datasource=recs&metric=m&label.region=JP&start=2026-02-28")


def test_deep_link_round_trip_keeps_repeated_labels() -> None:
    view = ChartView("recs", "rows.count", {"region": ("JP", "US"), "k": ("10",)}, date(2026, 1, 1), date(2026, 1, 31))
    params = {k: (v if isinstance(v, list) else [v]) for k, v in to_params(view).items()}
    assert parse(params) == view


def test_deep_link_ignores_a_mangled_date() -> None:
    assert parse({"datasource": ["recs"], "start": ["yesterday"]}).start is None


def test_cli_user_add_and_grant(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lupus_cli.main import app

    monkeypatch.setenv("LUPUS_HOME", str(tmp_path))
    monkeypatch.delenv("LUPUS_METADATA_URL", raising=False)
    runner = CliRunner()
    result = runner.invoke(
        app, ["user", "add", "erin", "--team", "recsys", "--password-stdin"], input="erin-password\n"
    )
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["grant", "recs", "recsys", "--owner"]).exit_code == 0
    db = MetadataDB(f"sqlite:///{tmp_path / 'metadata.db'}")
    erin_id = accounts.authenticate(db, "erin", "erin-password")
    assert erin_id is not None and readable_datasources(db, load_user(db, erin_id)) == ["recs"]
    short = runner.invoke(app, ["user", "add", "frank", "--password-stdin"], input="short\n")
    assert short.exit_code == 2


def test_chart_annotations_name_the_failed_rule_and_mark_freshness_no_data_and_incidents(db: MetadataDB) -> None:
    from lupus_store.incidents import Alert, Candidate

    day = date(2026, 3, 20)
    detail = "rule min_rows: rows.count = 700 is below the minimum 1500; rule x: age.mean = 9 is above the maximum 5"
    record(db,
        Candidate("p", "recs", "c", day, "check", "ge", 3.0, Alert("check", None, check="ge", detail=detail,
                                                                   concerns=["rows.count", "age.mean"])),
        Candidate("p", "recs", "f", day + timedelta(days=3), "freshness", "freshness", 2.0,
                  Alert("freshness", None, detail="partition 2026-03-23 not materialized by 08:00 UTC")),
        Candidate("p", "recs", "n", day + timedelta(days=5), "no_data", None, 2.0,
                  Alert("no_data", None, {"platform": "android"})),
        Candidate("q", "recs", "a", day + timedelta(days=6), "anomaly", "score.mean", 5.0,
                  Alert("anomaly", "score.mean", {}, value=2.0, expected=1.0)),
    )  # fmt: skip
    found = annotations.datasource_incidents(db, "recs", since=day)
    on_rows = annotations.annotations(found, "rows.count", day - timedelta(days=7), day + timedelta(days=10))
    assert [(a.day.day, a.kind) for a in on_rows] == [(20, "check"), (23, "freshness"), (25, "no_data")]
    assert on_rows[0].text == "check ge failed: rule min_rows: rows.count = 700 is below the minimum 1500"
    assert on_rows[2].text == "no data for {platform=android}"
    on_score = annotations.annotations(found, "score.mean", day - timedelta(days=7), day + timedelta(days=10))
    assert [(a.day.day, a.kind) for a in on_score] == [(23, "freshness"), (25, "no_data"), (26, "incident")]
    assert annotations.annotations(found, "rows.count", day + timedelta(days=1), day + timedelta(days=2)) == []
    frame = annotations.frame(on_rows)
    assert list(frame.columns) == ["ts", "kind", "label", "text"] and str(frame["ts"].dt.tz) == "UTC"
