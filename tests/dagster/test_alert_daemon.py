"""The alert sensor under a real `dagster dev` daemon: a partition that never arrives alerts within one
sensor interval of its deadline, with nothing else running (no materialization, no check run)."""

import os
import time
from datetime import UTC, datetime, timedelta

import pytest
from services.chat_receiver import Receiver
from services.ports import free_port

from lupus_cli.serve import start_dagster_dev, stop, wait_for_http

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]
INTERVAL = 10  # seconds between the sensor's ticks
STARTUP_MARGIN = timedelta(minutes=4)  # `dagster dev` must be up (and ticking) before the deadline

PRODUCT = """\
type: lupus_dagster.components.MonitoredProduct
attributes:
  product: late_shop
  team: growth
  datasource: late-shop
  partitions: {{start: "{start}", timezone: UTC, cron: "0 0 * * *"}}
  source: {{parquet: "late_shop/date={{date}}/*.parquet"}}
  freshness: {{max_lag_hours: {lag}}}
  no_data: null
  alerts: {{kind: slack, url_env: LUPUS_TEST_DAEMON_HOOK, sensor_interval_seconds: {interval}}}
"""


def test_a_late_partition_alerts_within_one_sensor_interval_of_its_deadline(tmp_path, monkeypatch):
    receiver = Receiver()
    now = datetime.now(UTC)
    today = now.date()
    midnight = datetime.combine(today, datetime.min.time(), UTC)
    deadline = now + STARTUP_MARGIN  # when yesterday's partition (run at 00:00 today) is due
    lag = (deadline - midnight).total_seconds() / 3600
    products = tmp_path / "products"
    (products / "late_shop").mkdir(parents=True)
    (products / "late_shop" / "defs.yaml").write_text(
        PRODUCT.format(start=today - timedelta(days=1), lag=lag, interval=INTERVAL)
    )
    (tmp_path / "dagster").mkdir()
    (tmp_path / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    for name, value in {
        "DAGSTER_HOME": str(tmp_path / "dagster"), "LUPUS_HOME": str(tmp_path / "home"),
        "LUPUS_PRODUCTS_DIR": str(products), "LUPUS_TEST_DAEMON_HOOK": receiver.url,
        "LUPUS_APP_URL": "http://lupus.example",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("LUPUS_NOW", raising=False)
    monkeypatch.delenv("LUPUS_METADATA_URL", raising=False)
    port = free_port()
    process = start_dagster_dev(tmp_path, port=port)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/server_info", timeout=600)
        started = datetime.now(UTC)
        assert started < deadline - timedelta(seconds=2 * INTERVAL), (
            f"dagster dev took {started - now} to start: the deadline passed before the sensor ran"
        )
        while datetime.now(UTC) < deadline - timedelta(seconds=1):
            assert receiver.posts == [], "alerted before the deadline"
            time.sleep(1)
        wait_until = time.monotonic() + 3 * INTERVAL + 60
        while not receiver.posts and time.monotonic() < wait_until:
            time.sleep(0.5)
    finally:
        stop(process)
        receiver.stop()
    assert receiver.posts, "no freshness alert after the deadline"
    [message] = receiver.posts
    yesterday = today - timedelta(days=1)
    assert f"partition {yesterday} of late_shop/metrics not materialized by its deadline" in message["text"]
    delay = receiver.times[0] - deadline.timestamp()
    print(f"freshness alert {delay:.1f} s after the deadline (sensor interval {INTERVAL} s)")
    # The daemon evaluates a sensor at most every INTERVAL seconds; a tick itself takes a few.
    assert 0 <= delay <= INTERVAL + 10, f"alerted {delay:.1f} s after the deadline"
    assert os.path.exists(tmp_path / "home" / "metadata.db")
