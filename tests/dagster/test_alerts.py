"""The alert sensor end to end: a real asset graph, a real Dagster instance, a real HTTP receiver.

Each test materializes partitions of a tiny `shop` product (metrics, anomalies, a Great
Expectations-style check, a freshness check), ticks the sensor and reads what the receiver
on 127.0.0.1 got. Alert state lives in the metadata database, on SQLite and PostgreSQL.
"""

import itertools
import json
import tempfile
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import dagster as dg
import pandas as pd
import pytest
from services.ports import free_port
from sqlalchemy import select

from lupus_dagster.resources.metadata import MetadataResource
from lupus_dagster.resources.notifier import AlertChannel
from lupus_dagster.resources.store import MetricStoreResource
from lupus_dagster.sensors.alerts import build_alert_sensor
from lupus_store.metadata import AlertState, MetadataDB

PRODUCTS = itertools.count()
DS = "shop-ds"
DAY = "2026-01-10"
DAILY = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-02-01")
URL_ENV = "LUPUS_TEST_ALERT_WEBHOOK"


# --- a real HTTP receiver --------------------------------------------------------------------


class Receiver:
    """Records the JSON posted to it; answers 500 to the next ``fail_next`` requests."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.requests = 0
        self.fail_next = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.requests += 1
                    failing = receiver.fail_next > 0
                    if failing:
                        receiver.fail_next -= 1
                    else:
                        receiver.posts.append(json.loads(body))
                self.send_response(500 if failing else 200)
                self.end_headers()
                self.wfile.write(b"boom" if failing else b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    server = Receiver()
    monkeypatch.setenv(URL_ENV, server.url)
    monkeypatch.setenv("LUPUS_APP_URL", "http://lupus.example")
    yield server
    server.stop()


# --- a tiny real asset graph ----------------------------------------------------------------


class Scenario(dg.ConfigurableResource):
    """What the assets of one run write: anomaly rows of the day, and whether validation fails."""

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
        def metrics() -> dg.MaterializeResult:
            return dg.MaterializeResult(metadata={"datasource": datasource})

        @dg.asset(key=[product, "anomalies"], deps=[metrics], partitions_def=DAILY)
        def anomalies(
            context: dg.AssetExecutionContext, store: MetricStoreResource, scenario: Scenario
        ) -> dg.MaterializeResult:
            rows = [
                {
                    **row,
                    "ts": context.partition_key,
                    "expected": 100.0,
                    "lower": 80.0,
                    "upper": 120.0,
                    "detector": "window",
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
                    metadata={"failed_expectations": "expect_column_values_to_not_be_null(score): 12% null"},
                )
            return dg.AssetCheckResult(passed=True)

        self.assets = [metrics, anomalies]
        self.ge_validation = ge_validation
        # Dagster's own freshness check factory.
        self.freshness = dg.build_last_update_freshness_checks(assets=[metrics], lower_bound_delta=timedelta(hours=30))
        self.checks = [ge_validation, *self.freshness]


def anomaly(metric: str, score: float, value: float = 5.0, labels: dict | None = None, flagged: bool = True) -> dict:
    return {"metric": metric, "labels": labels or {}, "value": value, "score": score, "is_anomaly": flagged}


class Harness:
    """Materializes partitions and ticks the sensor, carrying the cursor like the daemon does."""

    def __init__(self, instance: dg.DagsterInstance, store_root: str, metadata_url: str, channel: AlertChannel):
        self.product = f"shop_{next(PRODUCTS)}"
        self.instance = instance
        self.graph = ShopGraph(self.product, DS)
        self.store = MetricStoreResource(root=store_root)
        self.metadata = MetadataResource(url=metadata_url)
        self.sensor = build_alert_sensor(product=self.product, datasource=DS, channel=channel)
        self.definitions = dg.Definitions(
            assets=self.graph.assets,
            asset_checks=self.graph.checks,
            sensors=[self.sensor],
            resources={"store": self.store, "metadata": self.metadata, "scenario": Scenario()},
        )
        self.cursor: str | None = None

    def materialize(self, day: str = DAY, rows: list[dict] = (), *, ge_fails: bool = False) -> None:
        self._run(
            dg.AssetSelection.assets(*self.graph.assets).without_checks()
            | dg.AssetSelection.checks(self.graph.ge_validation),
            Scenario(rows_json=json.dumps(list(rows)), ge_fails=ge_fails),
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


def slack_channel(**retry) -> AlertChannel:
    options = {"max_attempts": 2, "backoff_seconds": 0.01, "timeout_seconds": 5} | retry
    return AlertChannel(kind="slack", url_env=URL_ENV, **options)


@pytest.fixture
def harness(instance, tmp_path, metadata_url, receiver) -> Harness:
    """Alert state on SQLite, then PostgreSQL: for the behaviours that live in the database."""
    return Harness(instance, str(tmp_path / "store"), metadata_url, slack_channel())


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'metadata.db'}"


@pytest.fixture
def sqlite_harness(instance, tmp_path, sqlite_url, receiver) -> Harness:
    """Alert state on SQLite only: for message format and channel behaviour."""
    return Harness(instance, str(tmp_path / "store"), sqlite_url, slack_channel())


# --- the behaviours ---------------------------------------------------------------------------


def test_two_anomalous_series_of_one_day_arrive_as_one_slack_message(harness, receiver):
    harness.materialize(rows=[
        anomaly("rows.count", -6.2, labels={"region": "JP"}),
        anomaly("score.mean", 4.5, value=150.0, labels={"region": "US", "k": "10"}),
        anomaly("score.p95", 0.3, value=101.0, flagged=False),
    ])  # fmt: skip
    result = harness.tick()

    assert len(receiver.posts) == 1
    message = receiver.posts[0]
    assert set(message) == {"text", "blocks"}
    assert message["text"].startswith(f"Lupus: 2 anomalies in {harness.product} ({DS}) on {DAY}")
    assert "rows.count {region=JP}: value 5 (expected 100, band 80 – 120), score -6.2" in message["text"]
    assert "score.mean {k=10, region=US}: value 150 (expected 100, band 80 – 120), score 4.5" in message["text"]
    assert "score.p95" not in message["text"]  # not flagged: no alert
    sections = [block["text"]["text"] for block in message["blocks"] if block["type"] == "section"]
    assert len(sections) == 2 and "Open chart" in sections[0]
    link = sections[0].split("<", 1)[1].split("|", 1)[0]
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "http://lupus.example/chart"
    assert parse_qs(parts.query) == {
        "datasource": [DS], "metric": ["rows.count"], "label.region": ["JP"],
        "start": ["2025-12-11"], "end": ["2026-01-11"],
    }  # fmt: skip
    assert "posted 1 message(s) with 2 alert(s)" in result.skip_reason.skip_message
    assert [(state.kind, state.status, state.attempts) for state in harness.states()] == [("anomaly", "sent", 1)] * 2


def test_a_second_tick_posts_nothing_and_says_why(harness, receiver):
    harness.materialize(rows=[anomaly("rows.count", -6.2)])
    harness.tick()
    result = harness.tick()
    assert len(receiver.posts) == 1
    assert result.skip_reason.skip_message.startswith("0 new anomaly materialization(s), 0 failed check(s)")
    assert "posted 0 message(s)" in result.skip_reason.skip_message


def test_rematerializing_with_the_same_severity_posts_nothing(harness, receiver):
    rows = [anomaly("rows.count", -6.2), anomaly("score.mean", 4.5)]
    harness.materialize(rows=rows)
    harness.tick()
    harness.materialize(rows=rows)
    result = harness.tick()
    assert len(receiver.posts) == 1
    assert "1 new anomaly materialization(s)" in result.skip_reason.skip_message
    assert "0 new alert(s), 0 re-alert(s), 2 duplicate(s)" in result.skip_reason.skip_message


def test_a_higher_severity_realerts_only_that_series(harness, receiver):
    harness.materialize(rows=[anomaly("rows.count", -6.2), anomaly("score.mean", 4.5)])
    harness.tick()
    harness.materialize(rows=[anomaly("rows.count", -9.0, value=1.0), anomaly("score.mean", 4.5)])
    harness.tick()
    assert len(receiver.posts) == 2
    again = receiver.posts[1]
    assert again["text"].startswith(f"Lupus: 1 anomaly in {harness.product}")
    assert "rows.count: value 1 (expected 100, band 80 – 120), score -9" in again["text"]
    assert "severity rose from 6.2" in again["blocks"][1]["text"]["text"]
    severities = {state.metric: (state.severity, state.status) for state in harness.states()}
    assert severities == {"rows.count": (9.0, "sent"), "score.mean": (4.5, "sent")}


def test_each_day_is_its_own_message(sqlite_harness, receiver):
    sqlite_harness.materialize("2026-01-10", rows=[anomaly("rows.count", -6.2)])
    sqlite_harness.materialize("2026-01-11", rows=[anomaly("rows.count", -5.0)])
    sqlite_harness.tick()
    assert sorted(post["text"].splitlines()[0][-10:] for post in receiver.posts) == ["2026-01-10", "2026-01-11"]


def test_a_failed_delivery_keeps_alerts_pending_and_the_next_tick_delivers_them_once(harness, receiver):
    harness.materialize(rows=[anomaly("rows.count", -6.2)])
    receiver.fail_next = 2  # both attempts of the first tick
    result = harness.tick()  # must not raise

    assert receiver.posts == [] and receiver.requests == 2
    assert "1 alert(s) stay pending after a failed delivery" in result.skip_reason.skip_message
    [state] = harness.states()
    assert (state.status, state.attempts) == ("pending", 1)
    assert "HTTP 500" in state.last_error and receiver.url not in state.last_error

    harness.tick()
    harness.tick()
    assert len(receiver.posts) == 1 and "rows.count" in receiver.posts[0]["text"]
    [state] = harness.states()
    assert (state.status, state.attempts, state.last_error) == ("sent", 2, None)


def test_while_the_channel_is_down_later_days_wait_for_the_next_tick(sqlite_harness, receiver):
    sqlite_harness.materialize("2026-01-10", rows=[anomaly("rows.count", -6.2)])
    sqlite_harness.materialize("2026-01-11", rows=[anomaly("rows.count", -5.0)])
    receiver.fail_next = 2
    result = sqlite_harness.tick()
    assert receiver.requests == 2  # the retries of the first day only
    assert "1 alert(s) of later days wait for the next tick" in result.skip_reason.skip_message
    assert [(state.day.isoformat(), state.attempts) for state in sqlite_harness.states()] == [
        ("2026-01-10", 1),
        ("2026-01-11", 0),
    ]
    sqlite_harness.tick()
    assert sorted(post["text"].splitlines()[0][-10:] for post in receiver.posts) == ["2026-01-10", "2026-01-11"]


def test_a_transient_5xx_is_retried_within_the_tick(sqlite_harness, receiver):
    sqlite_harness.materialize(rows=[anomaly("rows.count", -6.2)])
    receiver.fail_next = 1
    sqlite_harness.tick()
    assert receiver.requests == 2 and len(receiver.posts) == 1
    assert [state.status for state in sqlite_harness.states()] == ["sent"]


def test_a_failed_validation_check_alerts_with_its_failures(harness, receiver):
    harness.materialize(rows=[], ge_fails=True)
    result = harness.tick()
    assert "1 failed check(s)" in result.skip_reason.skip_message
    [message] = receiver.posts
    assert message["text"].startswith(f"Lupus: 1 failed check in {harness.product} ({DS}) on {DAY}")
    assert (
        "check ge_validation failed: failed expectations: expect_column_values_to_not_be_null(score): 12% null"
        in message["text"]
    )
    [state] = harness.states()
    assert (state.kind, state.metric, state.status) == ("check", "ge_validation", "sent")

    harness.materialize(rows=[], ge_fails=True)  # the same failure again the same day: already told
    harness.tick()
    assert len(receiver.posts) == 1


def test_a_failed_freshness_check_alerts_as_freshness(sqlite_harness, receiver):
    sqlite_harness.check_freshness()  # never materialized: overdue
    sqlite_harness.tick()
    [message] = receiver.posts
    assert "freshness check freshness_check failed" in message["text"]
    assert [state.kind for state in sqlite_harness.states()] == ["freshness"]


def test_anomalies_and_failed_checks_of_one_day_share_a_message(sqlite_harness, receiver):
    sqlite_harness.materialize(rows=[anomaly("rows.count", -6.2)], ge_fails=True)
    sqlite_harness.tick()
    [message] = receiver.posts
    assert message["text"].startswith(f"Lupus: 1 anomaly and 1 failed check in {sqlite_harness.product}")


def test_the_generic_webhook_gets_the_json_document(instance, tmp_path, sqlite_url, receiver):
    channel = AlertChannel(kind="webhook", url_env=URL_ENV, backoff_seconds=0.01)
    harness = Harness(instance, str(tmp_path / "store"), sqlite_url, channel)
    harness.materialize(rows=[anomaly("rows.count", -6.2, labels={"region": "JP"})])
    harness.tick()
    [document] = receiver.posts
    assert {key: document[key] for key in ("product", "datasource", "day")} == {
        "product": harness.product,
        "datasource": DS,
        "day": DAY,
    }
    [alert] = document["alerts"]
    assert {key: alert[key] for key in ("metric", "labels", "value", "expected", "lower", "upper", "score")} == {
        "metric": "rows.count", "labels": {"region": "JP"}, "value": 5.0, "expected": 100.0,
        "lower": 80.0, "upper": 120.0, "score": -6.2,
    }  # fmt: skip
    assert alert["link"].startswith(f"http://lupus.example/chart?datasource={DS}&metric=rows.count&label.region=JP&")


def test_an_unreachable_webhook_keeps_alerts_pending_without_failing_the_tick(
    instance, tmp_path, sqlite_url, monkeypatch
):
    monkeypatch.setenv(URL_ENV, f"http://127.0.0.1:{free_port()}/nobody-listens")
    harness = Harness(instance, str(tmp_path / "store"), sqlite_url, slack_channel())
    harness.materialize(rows=[anomaly("rows.count", -6.2)])
    harness.tick()
    [state] = harness.states()
    assert (state.status, state.attempts) == ("pending", 1)
    assert "ConnectError" in state.last_error


def test_a_missing_webhook_variable_is_named_in_the_pending_alert(instance, tmp_path, sqlite_url, monkeypatch):
    monkeypatch.delenv(URL_ENV, raising=False)
    harness = Harness(instance, str(tmp_path / "store"), sqlite_url, slack_channel())
    harness.materialize(rows=[anomaly("rows.count", -6.2)])
    harness.tick()
    [state] = harness.states()
    assert state.status == "pending" and f"environment variable {URL_ENV} is not set" in state.last_error


def test_the_sensor_is_a_running_plain_sensor_named_after_the_product():
    sensor = build_alert_sensor(product="shop", datasource=DS, channel=slack_channel(), minimum_interval_seconds=45)
    assert (sensor.name, sensor.default_status, sensor.minimum_interval_seconds) == (
        "shop_alerts", dg.DefaultSensorStatus.RUNNING, 45,
    )  # fmt: skip
    assert sensor.required_resource_keys == {"store", "metadata"}
