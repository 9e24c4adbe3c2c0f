"""The production Dagster instance (`deploy/dagster.yaml`, PostgreSQL) end to end under `dagster dev`.

A real PostgreSQL server holds everything Dagster keeps: a backfill launched through the UI's
GraphQL API runs as one ranged run (runs, per-partition materializations and check results in
the event log), the daemon ticks the product's alert sensor, which posts the day that failed its
check and the day with an anomaly (alert state in a PostgreSQL metadata database), a schedule is
turned on, and after a restart of every Dagster process the sensor carries on from its stored
cursor (nothing posted twice) and the schedule is still on.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from dagster._core.scheduler.instigation import InstigatorType

from lupus_dagster.demo.generate import forecaster_day

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(1800)]
REPO = Path(__file__).resolve().parents[2]
START = date(2026, 4, 1)
DAYS = [START + timedelta(days=n) for n in range(6)]
SPIKE, HALF_EMPTY = DAYS[2], DAYS[4]
PRODUCT = f"""
type: lupus_dagster.components.MonitoredProduct
attributes:
  product: shop
  team: supply
  datasource: shop
  partitions: {{start: "{START}"}}
  source: {{parquet: "forecasts/date={{date}}/*.parquet"}}
  profile: {{columns: {{price: [mean, null_rate]}}}}
  checks: {{price.null_rate: {{max: 0.05}}}}
  min_rows: 1500
  detect: [{{metrics: ["price.mean"], detector: {{kind: threshold, max: 15}}}}]
  alerts: {{kind: file, path: alerts/shop.jsonl}}
"""
BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message }
  }
}"""
BACKFILL_STATUS = (
    "query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } } }"
)
SCHEDULE = {
    "repositoryLocationName": "lupus",
    "repositoryName": "__repository__",
    "scheduleName": "lupus_store_compaction_nightly",
}
START_SCHEDULE = """
mutation($s: ScheduleSelector!) { startSchedule(scheduleSelector: $s) { __typename ... on PythonError { message } } }"""
SCHEDULE_STATUS = "query($s: ScheduleSelector!) { scheduleOrError(scheduleSelector: $s) { ... on Schedule { scheduleState { status } } } }"


@pytest.fixture
def production_home(tmp_path, monkeypatch, postgres_server):
    rng = np.random.default_rng(2)
    for day in DAYS:
        frame = forecaster_day(day, half_empty=day == HALF_EMPTY, rng=rng)
        if day == SPIKE:
            frame["price"] *= 3
        target = tmp_path / "data" / "forecasts" / f"date={day}" / "part.parquet"
        target.parent.mkdir(parents=True)
        frame.to_parquet(target)
    (tmp_path / "products" / "shop").mkdir(parents=True)
    (tmp_path / "products" / "shop" / "defs.yaml").write_text(PRODUCT)
    (tmp_path / "dagster").mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", tmp_path / "dagster" / "dagster.yaml")
    for name in [n for n in os.environ if n.startswith(("LUPUS_", "DAGSTER_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.setenv("DAGSTER_PG_URL", postgres_server.create_database())
    monkeypatch.setenv("LUPUS_METADATA_URL", postgres_server.create_database())
    monkeypatch.setenv("LUPUS_HOME", str(tmp_path))
    monkeypatch.setenv("LUPUS_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("LUPUS_PRODUCTS_DIR", str(tmp_path / "products"))
    return tmp_path


def test_backfill_alerts_and_cursors_live_in_postgresql_across_a_restart(production_home):
    from services.dagster_dev import DagsterDev

    alerts = production_home / "alerts" / "shop.jsonl"
    with DagsterDev(production_home) as dagster:
        params = {
            "assetSelection": [{"path": ["shop", "metrics"]}, {"path": ["shop", "anomalies"]}],
            "partitionNames": [day.isoformat() for day in DAYS],
        }
        launched = dagster.query(BACKFILL, {"params": params})["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        status = _wait(lambda: dagster.query(BACKFILL_STATUS, {"id": launched["backfillId"]})
                       ["partitionBackfillOrError"]["status"], lambda s: s not in ("REQUESTED", "CANCELING"))  # fmt: skip
        assert status in ("COMPLETED", "COMPLETED_SUCCESS"), status
        assert dagster.query(START_SCHEDULE, {"s": SCHEDULE})["startSchedule"]["__typename"] == "ScheduleStateResult"
        messages = _wait(lambda: _days(alerts), lambda days: {SPIKE.isoformat(), HALF_EMPTY.isoformat()} <= set(days))
        assert set(messages) == {SPIKE.isoformat(), HALF_EMPTY.isoformat()}

    with dg.DagsterInstance.get() as instance:  # from deploy/dagster.yaml: PostgreSQL, no Dagster process running
        assert "postgres" in type(instance.run_storage).__module__
        runs = instance.get_runs()
        assert len(runs) == 1  # the backfill of six days was one ranged run
        assert runs[0].tags["dagster/asset_partition_range_start"] == DAYS[0].isoformat()
        assert runs[0].tags["dagster/asset_partition_range_end"] == DAYS[-1].isoformat()
        assert instance.get_materialized_partitions(dg.AssetKey(["shop", "metrics"])) == {d.isoformat() for d in DAYS}
        check = dg.AssetCheckKey(dg.AssetKey(["shop", "metrics"]), "ge_validation")
        history = instance.event_log_storage.get_asset_check_execution_history(check, limit=20)
        failed = {record.partition for record in history if record.status.value == "FAILED"}
        assert failed == {HALF_EMPTY.isoformat()}
        sensor = _sensor_state(instance, "shop_alerts")
        cursor, ticked = sensor.instigator_data.cursor, sensor.instigator_data.last_tick_timestamp
    assert cursor and json.loads(cursor)["materialization"]

    restarted = time.time()
    with DagsterDev(production_home) as dagster, dg.DagsterInstance.get() as instance:
        state = _wait(lambda: _sensor_state(instance, "shop_alerts"),
                      lambda s: (s.instigator_data.last_tick_timestamp or 0) > max(ticked, restarted))  # fmt: skip
        tick = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1)[0]
        assert tick.skip_reason.startswith("0 new anomaly materialization(s), 0 failed check(s)"), tick.skip_reason
        assert state.instigator_data.cursor == cursor
        schedule = dagster.query(SCHEDULE_STATUS, {"s": SCHEDULE})["scheduleOrError"]
        assert schedule["scheduleState"]["status"] == "RUNNING"
    assert _days(alerts) == messages  # nothing posted twice


def _days(alerts: Path) -> list[str]:
    return [json.loads(line)["day"] for line in alerts.read_text().splitlines()] if alerts.exists() else []


def _sensor_state(instance: dg.DagsterInstance, name: str):
    states = instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
    return next((s for s in states if s.name == name), None)


def _wait(read, done, timeout: float = 600, every: float = 3):
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = read()
        if value is not None and done(value):
            return value
        time.sleep(every)
    raise AssertionError(f"gave up waiting after {timeout:.0f} s; last seen {value!r}")
