"""The alert sensor end to end: a real asset graph, a real Dagster instance, a real HTTP receiver.

Each test materializes partitions of a tiny `shop` product (metrics, anomalies, a Great
Expectations-style check, a freshness check), ticks the sensor and reads what the receiver
on 127.0.0.1 got. The incident store lives in the metadata database, on SQLite and PostgreSQL.
"""

import itertools
import json
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import dagster as dg
import pandas as pd
import pytest
from services.chat_receiver import Receiver
from services.ports import free_port
from sqlalchemy import select

from lupus_dagster.resources.metadata import MetadataResource
from lupus_dagster.resources.notifier import AlertChannel
from lupus_dagster.resources.routing import Routes, TeamRoute
from lupus_dagster.resources.store import MetricStoreResource
from lupus_dagster.sensors.alerts import build_alert_sensor
from lupus_dagster.sensors.policy import AlertPolicy, FreshnessPolicy, NoDataPolicy
from lupus_store import MetricStore
from lupus_store.incidents import IncidentStore
from lupus_store.metadata import AlertState, MetadataDB

PRODUCTS = itertools.count()
DS = "shop-ds"
DAY = "2026-01-10"
DAILY = dg.DailyPartitionsDefinition(start_date="2026-01-01")
URL_ENV = "LUPUS_TEST_ALERT_WEBHOOK"
PAGER_ENV = "LUPUS_TEST_PAGER_WEBHOOK"


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    server = Receiver()
    monkeypatch.setenv(URL_ENV, server.url)
    monkeypatch.setenv(PAGER_ENV, server.url.replace("/hook", "/pager"))
    monkeypatch.setenv("LUPUS_APP_URL", "http://lupus.example")
    monkeypatch.delenv("LUPUS_NOW", raising=False)
    yield server
    server.stop()


# --- a tiny real asset graph ----------------------------------------------------------------


class Scenario(dg.ConfigurableResource):
    """What the assets of one run write: points and anomaly rows of the day, and whether validation fails."""

    points_json: str = "[]"
    rows_json: str = "[]"
    ge_fails: bool = False


ANOMALY_COLUMNS = ["metric", "labels", "ts", "value", "expected", "lower", "upper", "score", "is_anomaly", "detector"]


class ShopGraph:
    """The assets and checks the product component builds, under the contract's keys.

    Each test has its own product (and so its own asset keys), so one Dagster instance
    serves the whole module without tests seeing each other's events.
    """

    def __init__(self, product: str, datasource: str):
        @dg.asset(key=[product, "metrics"], partitions_def=DAILY)
        def metrics(
            context: dg.AssetExecutionContext, store: MetricStoreResource, scenario: Scenario
        ) -> dg.MaterializeResult:
            points = [{**point, "ts": context.partition_key} for point in json.loads(scenario.points_json)]
            if points:
                store.get_store().write_points(
                    datasource, pd.DataFrame(points), day=context.partition_key, writer="metrics"
                )
            return dg.MaterializeResult(metadata={"datasource": datasource})

        @dg.asset(key=[product, "anomalies"], deps=[metrics], partitions_def=DAILY)
        def anomalies(
            context: dg.AssetExecutionContext, store: MetricStoreResource, scenario: Scenario
        ) -> dg.MaterializeResult:
            rows = [
                {
                    "expected": 100.0,
                    "lower": 80.0,
                    "upper": 120.0,
                    "detector": "window",
                    **row,
                    "ts": context.partition_key,
                }
                for row in json.loads(scenario.rows_json)
            ]
            frame = pd.DataFrame(rows, columns=ANOMALY_COLUMNS)
            store.get_store().write_anomalies(
                datasource, frame, day=context.partition_key, writer="anomalies", run_id=context.run_id
            )
            return dg.MaterializeResult(
                metadata={"datasource": datasource, "anomalies": int(frame["is_anomaly"].sum())}
            )

        @dg.asset_check(asset=metrics, name="ge_validation", partitions_def=DAILY)
        def ge_validation(scenario: Scenario) -> dg.AssetCheckResult:
            if scenario.ge_fails:
                return dg.AssetCheckResult(
                    passed=False,
                    metadata={
                        "metric": "rows.count",
                        "metrics": "rows.count",
                        "failed_expectations": "rule min_rows: rows.count = 700 is below the minimum 1500",
                    },
                )
            return dg.AssetCheckResult(passed=True)

        self.assets = [metrics, anomalies]
        self.ge_validation = ge_validation
        # Dagster's own freshness check factory.
        self.freshness = dg.build_last_update_freshness_checks(assets=[metrics], lower_bound_delta=timedelta(hours=30))
        self.checks = [ge_validation, *self.freshness]


def anomaly(
    metric: str, score: float, value: float = 5.0, labels: dict | None = None, flagged: bool = True, **extra
) -> dict:
    return {"metric": metric, "labels": labels or {}, "value": value, "score": score, "is_anomaly": flagged, **extra}


def point(metric: str, value: float, labels: dict | None = None) -> dict:
    return {"metric": metric, "labels": labels or {}, "value": value}


class Harness:
    """Materializes partitions and ticks the sensor, carrying the cursor like the daemon does."""

    def __init__(self, instance: dg.DagsterInstance, store_root: str, metadata_url: str, channel=None, **policy):
        self.product = f"shop_{next(PRODUCTS)}"
        self.instance = instance
        self.graph = ShopGraph(self.product, DS)
        self.store = MetricStoreResource(root=store_root)
        self.metadata = MetadataResource(url=metadata_url)
        routes = policy.pop("routes", None) or Routes(product=channel)
        self.policy = AlertPolicy(self.product, DS, routes=routes, **policy)
        self.sensor = build_alert_sensor(product=self.product, datasource=DS, policy=self.policy)
        self.definitions = dg.Definitions(
            assets=self.graph.assets,
            asset_checks=self.graph.checks,
            sensors=[self.sensor],
            resources={"store": self.store, "metadata": self.metadata, "scenario": Scenario()},
        )
        self.cursor: str | None = None

    def materialize(self, day: str = DAY, rows: list[dict] = (), *, points: list[dict] = (), ge_fails=False) -> None:
        self._run(
            dg.AssetSelection.assets(*self.graph.assets).without_checks()
            | dg.AssetSelection.checks(self.graph.ge_validation),
            Scenario(rows_json=json.dumps(list(rows)), points_json=json.dumps(list(points)), ge_fails=ge_fails),
            partition_key=day,
        )

    def check_freshness(self) -> None:
        self._run(dg.AssetSelection.checks(*self.graph.freshness), Scenario())

    def _run(self, selection: dg.AssetSelection, scenario: Scenario, partition_key: str | None = None) -> None:
        result = dg.materialize(
            [*self.graph.assets, *self.graph.checks],
            selection=selection,
            partition_key=partition_key,
            instance=self.instance,
            resources={"store": self.store, "scenario": scenario},
        )
        assert result.success

    def tick(self) -> dg.SensorResult:
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            resources={"store": self.store, "metadata": self.metadata},
            definitions=self.definitions,
        )
        result = self.sensor(context)
        self.cursor = result.cursor
        return result

    def states(self) -> list[AlertState]:
        with MetadataDB(self.metadata.url).session() as session:
            return list(session.scalars(select(AlertState).order_by(AlertState.id)))

    def incidents(self) -> IncidentStore:
        return IncidentStore(MetadataDB(self.metadata.url))


@pytest.fixture(scope="module")
def instance() -> Iterator[dg.DagsterInstance]:
    """One real Dagster instance (run-sharded SQLite storage, as `dagster dev` uses) for the module.

    It lives in memory-backed /dev/shm when there is one (SQLite's fsyncs on each event made
    the runs five times slower on disk) and captures no step logs (a subprocess per step):
    neither is what these tests are about.
    """
    shm = Path("/dev/shm")
    no_log_capture = {
        "compute_logs": {"module": "dagster._core.storage.noop_compute_log_manager", "class": "NoOpComputeLogManager"}
    }
    with (
        tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as home,
        dg.instance_for_test(temp_dir=home, overrides=no_log_capture) as instance,
    ):
        yield instance


def slack_channel(env: str = URL_ENV, **retry) -> AlertChannel:
    options = {"max_attempts": 2, "backoff_seconds": 0.01, "timeout_seconds": 5} | retry
    return AlertChannel(kind="slack", url_env=env, **options)


@pytest.fixture
def harness(instance, tmp_path, metadata_url, receiver) -> Harness:
    """The incident store on SQLite, then PostgreSQL: for the behaviours that live in the database."""
    return Harness(instance, str(tmp_path / "store"), metadata_url, slack_channel())


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'metadata.db'}"


@pytest.fixture
def sqlite_harness(instance, tmp_path, sqlite_url, receiver) -> Harness:
    """The incident store on SQLite only: for message format and channel behaviour."""
    return Harness(instance, str(tmp_path / "store"), sqlite_url, slack_channel())


def texts(receiver: Receiver) -> list[str]:
    return [post["text"] for post in receiver.posts]


# --- incidents and their messages -------------------------------------------------------------


def test_related_anomalies_of_a_day_arrive_as_one_incident_message(harness, receiver):
    harness.materialize(rows=[
        anomaly("rows.count", -6.2, labels={"region": "JP"}),
        anomaly("rows.count", 4.5, value=150.0, labels={"region": "US"}),
        anomaly("rows.p95", 0.3, value=101.0, flagged=False),
    ])  # fmt: skip
    result = harness.tick()

    [message] = receiver.posts
    assert set(message) == {"text", "blocks"}
    assert message["text"].startswith(
        f"Lupus incident #1 (warning): {harness.product}: rows.count for region=JP 5 vs 100 expected (−95 %) "
        f"on {DAY}; 1 related series"
    )
    assert "rows.count {region=JP}: value 5 (expected 100, band 80 – 120), score -6.2" in message["text"]
    assert "rows.count {region=US}: value 150 (expected 100, band 80 – 120), score 4.5" in message["text"]
    assert "rows.p95" not in message["text"]  # not flagged: no alert
    sections = [block["text"]["text"] for block in message["blocks"] if block["type"] == "section"]
    assert (
        sections[0]
        == f"*{harness.product}: rows.count for region=JP 5 vs 100 expected (−95 %) on {DAY}; 1 related series*"
    )
    link = sections[1].split("<", 1)[1].split("|", 1)[0]
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "http://lupus.example/chart"
    assert parse_qs(parts.query) == {
        "datasource": [DS], "metric": ["rows.count"], "label.region": ["JP"],
        "start": ["2025-12-11"], "end": ["2026-01-11"], "incident": ["1"],
    }  # fmt: skip
    assert "lupus incidents ack 1" in message["blocks"][-1]["elements"][0]["text"]
    assert "2 new alert(s) (1 new incident(s)" in result.skip_reason.skip_message
    assert "posted 1 message(s)" in result.skip_reason.skip_message
    assert [(state.kind, state.status, state.attempts) for state in harness.states()] == [("anomaly", "sent", 1)] * 2


def test_unrelated_anomalies_of_a_day_are_two_incidents_and_two_messages(sqlite_harness, receiver):
    sqlite_harness.materialize(rows=[anomaly("rows.count", -6.2), anomaly("score.mean", 5.0, value=3.0)])
    sqlite_harness.tick()
    assert len(receiver.posts) == 2
    assert {text.split(": ", 2)[2].split(" ", 1)[0] for text in texts(receiver)} == {"rows.count", "score.mean"}


def test_a_second_tick_posts_nothing_and_says_why(harness, receiver):
    harness.materialize(rows=[anomaly("rows.count", -6.2)])
    harness.tick()
    result = harness.tick()
    assert len(receiver.posts) == 1
    assert result.skip_reason.skip_message.startswith("0 new anomaly materialization(s), 0 metrics materialization(s)")
    assert "posted 0 message(s)" in result.skip_reason.skip_message


def test_rematerializing_with_the_same_severity_posts_nothing(sqlite_harness, receiver):
    rows = [anomaly("rows.count", -6.2), anomaly("rows.mean", 4.5)]
    sqlite_harness.materialize(rows=rows)
    sqlite_harness.tick()
    sqlite_harness.materialize(rows=rows)
    result = sqlite_harness.tick()
    assert len(receiver.posts) == 1
    assert (
        "0 new alert(s) (0 new incident(s), 0 attached to open ones), 2 duplicate(s)" in result.skip_reason.skip_message
    )


def test_a_higher_severity_updates_the_incident_without_a_new_message(sqlite_harness, receiver):
    sqlite_harness.materialize(rows=[anomaly("rows.count", -6.2)])
    sqlite_harness.tick()
    sqlite_harness.materialize(rows=[anomaly("rows.count", -9.0, value=1.0)])
    sqlite_harness.tick()
    assert len(receiver.posts) == 1
    [incident] = sqlite_harness.incidents().incidents()
    assert incident.score == 9.0 and incident.members[0].alert.previous_severity == 6.2


def test_a_problem_that_continues_the_next_day_attaches_to_its_incident(sqlite_harness, receiver):
    sqlite_harness.materialize("2026-01-10", rows=[anomaly("rows.count", -6.2)])
    sqlite_harness.materialize("2026-01-11", rows=[anomaly("rows.count", -5.0)])
    result = sqlite_harness.tick()
    [message] = texts(receiver)
    assert "on 2026-01-10" in message.splitlines()[0]
    assert "1 attached to open ones" in result.skip_reason.skip_message
    [incident] = sqlite_harness.incidents().incidents()
    assert (incident.start_day, incident.last_day) == (date(2026, 1, 10), date(2026, 1, 11))


def test_an_aggregate_anomaly_names_the_slice_that_explains_it(sqlite_harness, receiver):
    store = MetricStore(sqlite_harness.store.root)
    for day in pd.date_range("2025-12-27", "2026-01-09", tz="UTC"):
        history = [point("rows.count", 300.0), *(point("rows.count", 100.0, {"region": r}) for r in ("JP", "US", "DE"))]
        store.write_points(DS, pd.DataFrame(history).assign(ts=day), day=day.date(), writer="metrics")
    today = [point("rows.count", 210.0), point("rows.count", 10.0, {"region": "JP"}),
             point("rows.count", 101.0, {"region": "US"}), point("rows.count", 99.0, {"region": "DE"})]  # fmt: skip
    sqlite_harness.materialize(points=today, rows=[anomaly("rows.count", -9.0, value=210.0, expected=300.0),
                                                    anomaly("rows.count", -7.0, value=10.0, labels={"region": "JP"})])  # fmt: skip
    sqlite_harness.tick()
    [message] = texts(receiver)
    assert "rows.count for region=JP 10 vs 100 expected (−90 %)" in message.splitlines()[0]
    assert "region=JP explains 100 % of the rows.count drop" in message.splitlines()[0]
    assert "Top slices: of the rows.count drop: region=JP 100 %" in message
    [incident] = sqlite_harness.incidents().incidents()
    assert incident.top_slices[0]["labels"] == {"region": "JP"}


# --- delivery ---------------------------------------------------------------------------------


def test_a_failed_delivery_is_retried_until_delivered(harness, receiver):
    harness.materialize(rows=[anomaly("rows.count", -6.2)])
    receiver.fail_next = 4  # both attempts of two ticks
    first = harness.tick()  # must not raise
    assert "1 message(s) stay owed after a failed delivery" in first.skip_reason.skip_message
    [state] = harness.states()
    assert (state.status, state.attempts) == ("pending", 1)
    assert "HTTP 500" in state.last_error and receiver.url not in state.last_error
    harness.tick()
    assert receiver.posts == [] and receiver.requests == 4

    harness.tick()
    harness.tick()
    assert len(receiver.posts) == 1 and "rows.count" in receiver.posts[0]["text"]
    [state] = harness.states()
    assert (state.status, state.attempts, state.last_error) == ("sent", 3, None)


def test_while_the_channel_is_down_later_incidents_wait_for_the_next_tick(sqlite_harness, receiver):
    sqlite_harness.materialize(rows=[anomaly("rows.count", -6.2), anomaly("score.mean", 5.0)])
    receiver.fail_next = 2
    result = sqlite_harness.tick()
    assert receiver.requests == 2  # the retries of the first incident only
    assert "1 message(s) wait for the next tick" in result.skip_reason.skip_message
    sqlite_harness.tick()
    assert len(receiver.posts) == 2


def test_a_transient_5xx_is_retried_within_the_tick(sqlite_harness, receiver):
    sqlite_harness.materialize(rows=[anomaly("rows.count", -6.2)])
    receiver.fail_next = 1
    sqlite_harness.tick()
    assert receiver.requests == 2 and len(receiver.posts) == 1
    assert [state.status for state in sqlite_harness.states()] == ["sent"]


def test_the_generic_webhook_gets_the_incident_document(instance, tmp_path, sqlite_url, receiver):
    channel = AlertChannel(kind="webhook", url_env=URL_ENV, backoff_seconds=0.01)
    harness = Harness(instance, str(tmp_path / "store"), sqlite_url, channel)
    harness.materialize(rows=[anomaly("rows.count", -6.2, labels={"region": "JP"})])
    harness.tick()
    [document] = receiver.posts
    assert {key: document[key] for key in ("event", "incident_id", "product", "datasource", "day", "status")} == {
        "event": "opened", "incident_id": 1, "product": harness.product, "datasource": DS, "day": DAY,
        "status": "open",
    }  # fmt: skip
    assert document["headline"].startswith(f"{harness.product}: rows.count for region=JP 5 vs 100 expected")
    [alert] = document["alerts"]
    assert {key: alert[key] for key in ("metric", "labels", "value", "expected", "lower", "upper", "score")} == {
        "metric": "rows.count", "labels": {"region": "JP"}, "value": 5.0, "expected": 100.0,
        "lower": 80.0, "upper": 120.0, "score": -6.2,
    }  # fmt: skip
    assert alert["link"].startswith(f"http://lupus.example/chart?datasource={DS}&metric=rows.count&label.region=JP&")


def test_an_unreachable_webhook_keeps_the_message_owed_without_failing_the_tick(
    instance, tmp_path, sqlite_url, monkeypatch
):
    monkeypatch.setenv(URL_ENV, f"http://127.0.0.1:{free_port()}/nobody-listens")
    harness = Harness(instance, str(tmp_path / "store"), sqlite_url, slack_channel())
    harness.materialize(rows=[anomaly("rows.count", -6.2)])
    harness.tick()
    [state] = harness.states()
    assert (state.status, state.attempts) == ("pending", 1)
    assert "ConnectError" in state.last_error


def test_a_missing_webhook_variable_is_named_in_the_owed_message(instance, tmp_path, sqlite_url, monkeypatch):
    monkeypatch.delenv(URL_ENV, raising=False)
    harness = Harness(instance, str(tmp_path / "store"), sqlite_url, slack_channel())
    harness.materialize(rows=[anomaly("rows.count", -6.2)])
    harness.tick()
    [state] = harness.states()
    assert state.status == "pending" and f"environment variable {URL_ENV} is not set" in state.last_error


def test_critical_incidents_route_to_the_severity_channel(instance, tmp_path, sqlite_url, receiver):
    team = TeamRoute(channel=slack_channel(), severity={"critical": slack_channel(PAGER_ENV)})
    harness = Harness(instance, str(tmp_path / "store"), sqlite_url, routes=Routes(team=team))
    harness.materialize(rows=[anomaly("score.mean", -6.2)], ge_fails=True)
    harness.tick()
    routed = sorted(zip(receiver.paths, (t.split(": ", 2)[2] for t in texts(receiver)), strict=True))
    assert [path for path, _ in routed] == ["/hook", "/pager"]
    assert routed[1][1].startswith("check ge_validation failed")


# --- checks, silences, no data, freshness, resolution ------------------------------------------


def test_a_failed_check_alerts_with_its_rule_and_groups_with_the_metrics_it_concerns(harness, receiver):
    harness.materialize(rows=[anomaly("rows.count", -6.2, value=700.0, expected=1500.0)], ge_fails=True)
    result = harness.tick()
    assert "1 failed check(s)" in result.skip_reason.skip_message
    [message] = texts(receiver)
    assert message.startswith(
        f"Lupus incident #1 (critical): {harness.product}: check ge_validation failed "
        "(rule min_rows: rows.count = 700 is below the minimum 1500)"
    )
    assert "1 related alert" in message.splitlines()[0]
    kinds = sorted((state.kind, state.metric, state.status) for state in harness.states())
    assert kinds == [("anomaly", "rows.count", "sent"), ("check", "ge_validation", "sent")]

    harness.materialize(rows=[], ge_fails=True)  # the same failure again the same day: already told
    harness.tick()
    assert len(receiver.posts) == 1


def test_a_failed_freshness_check_alerts_as_freshness(sqlite_harness, receiver):
    sqlite_harness.check_freshness()  # never materialized: overdue
    sqlite_harness.tick()
    [message] = texts(receiver)
    assert "freshness check freshness_check failed" in message
    assert [state.kind for state in sqlite_harness.states()] == ["freshness"]


def test_a_silenced_alert_is_never_posted_and_is_posted_after_the_silence_expires(harness, receiver):
    silence = harness.incidents().add_silence(
        datasource=DS, product=harness.product, metric="rows.*", labels={"region": "JP"},
        duration=timedelta(hours=1), author="alice", reason="JP backfill running",
    )  # fmt: skip
    harness.materialize(rows=[anomaly("rows.count", -6.2, labels={"region": "JP"})])
    result = harness.tick()
    harness.tick()
    assert receiver.posts == [] and "1 silenced" in result.skip_reason.skip_message
    [state] = harness.states()
    assert (state.status, state.silence_id) == ("silenced", silence.id)

    harness.incidents().expire_silence(silence.id)
    harness.tick()
    harness.tick()
    [message] = texts(receiver)
    assert "rows.count {region=JP}" in message
    assert [state.status for state in harness.states()] == ["sent"]


def test_a_missing_segment_alerts_on_its_day(instance, tmp_path, metadata_url, receiver):
    no_data = NoDataPolicy(("platform",), window_days=14, min_presence=0.8)
    harness = Harness(instance, str(tmp_path / "store"), metadata_url, slack_channel(), no_data=no_data)
    store = MetricStore(harness.store.root)
    platforms = ("ios", "android")
    for day in pd.date_range("2025-12-27", "2026-01-09", tz="UTC"):
        history = [point("rows.count", 100.0, {"platform": p}) for p in platforms]
        store.write_points(DS, pd.DataFrame(history).assign(ts=day), day=day.date(), writer="metrics")
    harness.materialize(points=[point("rows.count", 101.0, {"platform": "ios"})])
    result = harness.tick()
    assert "1 metrics materialization(s)" in result.skip_reason.skip_message
    [message] = texts(receiver)
    assert message.startswith(
        f"Lupus incident #1 (critical): {harness.product}: no data for platform=android "
        f"(present on 14 of the previous 14 days, no rows on {DAY}; its metrics: rows.count) on {DAY}"
    )
    [state] = harness.states()
    assert (state.kind, state.day.isoformat(), state.labels) == ("no_data", DAY, {"platform": "android"})


def test_a_late_partition_alerts_on_the_first_tick_after_its_deadline(instance, tmp_path, metadata_url, receiver):
    today = datetime.now(UTC).date()
    yesterday, before = today - timedelta(days=1), today - timedelta(days=2)
    # Partition `yesterday` runs at 00:00 UTC today and is due 4 s from now.
    lag = datetime.now(UTC) + timedelta(seconds=4) - datetime.combine(today, datetime.min.time(), UTC)
    freshness = FreshnessPolicy(
        start=before, cron="0 0 * * *", timezone="UTC", max_lag_hours=lag.total_seconds() / 3600
    )
    harness = Harness(instance, str(tmp_path / "store"), metadata_url, slack_channel(), freshness=freshness)
    harness.materialize(before.isoformat())
    harness.tick()
    assert receiver.posts == []  # `before` is in, `yesterday` not due yet

    time.sleep(max(0.0, (datetime.combine(today, datetime.min.time(), UTC) + lag - datetime.now(UTC)).total_seconds()))
    due = time.time()
    harness.tick()
    ticked = time.time()
    [message] = texts(receiver)
    assert f"partition {yesterday} of {harness.product}/metrics not materialized by its deadline" in message
    # Posted during the first tick after the deadline (not a wall-clock bound: that flakes under load).
    assert due <= receiver.times[0] <= ticked
    [state] = harness.states()
    assert (state.kind, state.day, state.rule) == ("freshness", yesterday, "freshness")

    harness.tick()  # still late: already told
    assert len(receiver.posts) == 1


def test_an_incident_resolves_once_back_in_band_and_can_say_so(instance, tmp_path, sqlite_url, receiver):
    harness = Harness(instance, str(tmp_path / "store"), sqlite_url, slack_channel(), resolve_after_days=2,
                      notify_on_resolve=True)  # fmt: skip
    harness.materialize("2026-01-10", rows=[anomaly("rows.count", -6.2)])
    harness.tick()
    harness.materialize("2026-01-11", rows=[anomaly("rows.count", 0.5, value=99.0, flagged=False)])
    harness.tick()
    assert harness.incidents().incidents()[0].status == "open"
    harness.materialize("2026-01-12", rows=[anomaly("rows.count", 0.2, value=101.0, flagged=False)])
    result = harness.tick()
    assert "1 incident(s) resolved" in result.skip_reason.skip_message
    [incident] = harness.incidents().incidents()
    assert (incident.status, incident.clean_days) == ("resolved", 2)
    assert texts(receiver)[1].startswith("Resolved: Lupus incident #1")
    harness.materialize("2026-01-20", rows=[anomaly("rows.count", -7.0)])
    harness.tick()
    assert len(harness.incidents().incidents()) == 2 and len(receiver.posts) == 3


def test_the_sensor_is_a_running_plain_sensor_named_after_the_product():
    sensor = build_alert_sensor(product="shop", datasource=DS, channel=slack_channel(), minimum_interval_seconds=45)
    assert (sensor.name, sensor.default_status, sensor.minimum_interval_seconds) == (
        "shop_alerts", dg.DefaultSensorStatus.RUNNING, 45,
    )  # fmt: skip
    assert sensor.required_resource_keys == {"store", "metadata"}
