"""Plain-Python rules of the app on SQLite and PostgreSQL: who reads what, dashboards, alert acknowledgement, CLI."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from typer.testing import CliRunner

from lupus_store.metadata import AlertState, MetadataDB
from streamlit_app import accounts, alert_items, dashboards
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
    """Alert states as the alert sensor records them (lupus_dagster.sensors.alert_state)."""
    from lupus_dagster.sensors.alert_state import record_candidates

    record_candidates(db, list(candidates))


def test_failed_checks_show_and_acknowledgement_records_who_and_why(db: MetadataDB) -> None:
    from lupus_dagster.resources.alert_message import Alert
    from lupus_dagster.sensors.alert_state import Candidate

    alice = user(db, "alice", ["recsys"])
    check = Alert(kind="check", metric="rows.count", check="rows_count_min", detail="rows.count = 480 < min 1000",
                  link="http://ui.example/chart?datasource=recs&metric=rows.count&start=2026-02-28&end=2026-03-31")  # fmt: skip
    record(
        db,
        Candidate("p", "recs", "abc", date(2026, 3, 30), "check", "rows_count_min", 3.0, check),
        Candidate("q", "ads", "def", date(2026, 3, 30), "check", "x", 3.0, Alert(kind="check", metric=None, check="x")),
    )
    rows = alert_items.alert_rows(db, ["recs"], since=date(2026, 3, 1))
    assert list(rows["kind"]) == ["check"] and list(rows["metric"]) == ["rows.count"]
    assert list(rows["series"]) == ["rows_count_min: rows.count = 480 < min 1000"]
    assert list(rows["chart"]) == ["/chart?datasource=recs&metric=rows.count&start=2026-02-28&end=2026-03-31"]
    alert_items.acknowledge(db, alice, datasource="recs", series_id="abc", day=date(2026, 3, 30), kind="check",
                            metric="rows.count", note="late upstream")  # fmt: skip
    row = alert_items.alert_rows(db, ["recs"], since=date(2026, 3, 1)).iloc[0]
    assert (row["status"], row["note"], row["acknowledged_by"]) == ("acknowledged", "late upstream", "alice")


def test_sensor_anomaly_alerts_name_their_series_and_link_to_its_chart(db: MetadataDB) -> None:
    from lupus_dagster.resources.alert_message import Alert
    from lupus_dagster.sensors.alert_state import Candidate

    day = date(2026, 3, 30)
    record(db, *[
        Candidate("p", "recs", f"s{segment}", day, "anomaly", "churn.rate", 5.0,
                  Alert(kind="anomaly", metric="churn.rate", labels={"segment": segment}, value=0.4, expected=0.3))
        for segment in "abcde"
    ])  # fmt: skip
    rows = alert_items.alert_rows(db, ["recs"], since=date(2026, 3, 1))
    assert sorted(rows["series"]) == [f"segment={s}" for s in "abcde"]
    assert rows.loc[rows["series"] == "segment=c", "chart"].item() == (
        "/chart?datasource=recs&metric=churn.rate&label.segment=c&start=2026-02-28&end=2026-03-31"
    )
    assert len({alert_items.describe(row) for _, row in rows.iterrows()}) == 5
    assert set(rows["value"]) == {0.4} and set(rows["expected"]) == {0.3}


def test_alerts_without_labels_in_their_payload_take_them_from_the_store(db: MetadataDB) -> None:
    with db.session() as session:
        session.add(AlertState(datasource="recs", series_id="s9", day=date(2026, 3, 30), kind="anomaly",
                               metric="rows.count", status="sent", payload={}))  # fmt: skip
    rows = alert_items.alert_rows(db, ["recs"], since=date(2026, 3, 1), series_labels={"s9": "region=JP"})
    assert list(rows["series"]) == ["region=JP"]


def test_store_anomalies_without_alert_state_are_listed_once_per_series_and_day() -> None:
    empty = pd.DataFrame(columns=alert_items.COLUMNS)
    anomalies = pd.DataFrame({
        "metric": ["m", "m"], "label_text": ["region=JP"] * 2, "series_id": ["s1", "s1"],
        "ts": pd.to_datetime(["2026-03-30 00:00", "2026-03-30 12:00"], utc=True), "score": [3.0, -5.0],
    })  # fmt: skip
    merged = alert_items.merge_anomalies(empty, anomalies, "recs")
    assert len(merged) == 1 and merged.loc[0, "severity"] == 5.0 and merged.loc[0, "status"] == "new"


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
