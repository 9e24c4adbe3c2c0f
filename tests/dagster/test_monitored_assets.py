"""Monitoring any Dagster asset: a second, real code location's row counts -> points -> `auto` -> an alert.

`dagster dev` serves a workspace of two code locations: Lupus (with one `MonitoredAssets`
YAML selecting `group:warehouse`) and `tests/dagster/locations/warehouse.py`. A backfill of the
warehouse's orders table materializes 50 days in one run; the monitor sensor turns each
partition's `dagster/row_count` into a point, requests detection over the new days, and the
alert sensor posts the day whose row count dropped, through the same path as a product's.
"""

from __future__ import annotations

import json
import os
import time
from datetime import date, timedelta
from pathlib import Path

import pytest

from lupus_store import MetricStore

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DAYS = [date(2026, 1, 1) + timedelta(days=n) for n in range(50)]
DROP = DAYS[44]
MONITOR = """
type: lupus_dagster.components.MonitoredAssets
attributes:
  name: warehouse_watch
  team: data
  datasource: warehouse
  selection: "group:warehouse"
  start: "2026-01-01"
  minimum_interval_seconds: 10
  alerts: {kind: file, path: alerts/warehouse.jsonl}
"""
WORKSPACE = f"""
load_from:
  - python_module: {{module_name: lupus_dagster.definitions, attribute: defs, location_name: lupus}}
  - python_file: {{relative_path: {HERE / "locations" / "warehouse.py"}, location_name: warehouse}}
"""
BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message }
  }
}"""
STATUS = "query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill { status } } }"


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    from services.ports import free_port

    (tmp_path / "monitors" / "warehouse").mkdir(parents=True)
    (tmp_path / "monitors" / "warehouse" / "defs.yaml").write_text(MONITOR)
    (tmp_path / "products").mkdir()  # no products: this location only monitors
    (tmp_path / "dagster").mkdir()
    (tmp_path / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    (tmp_path / "workspace.yaml").write_text(WORKSPACE)
    for name in [n for n in os.environ if n.startswith(("LUPUS_", "DAGSTER_"))]:
        monkeypatch.delenv(name)
    port = free_port()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.setenv("LUPUS_HOME", str(tmp_path))
    monkeypatch.setenv("LUPUS_PRODUCTS_DIR", str(tmp_path / "products"))
    monkeypatch.setenv("LUPUS_MONITORS_DIR", str(tmp_path / "monitors"))
    monkeypatch.setenv("LUPUS_DAGSTER_URL", f"http://127.0.0.1:{port}")  # the catalog of every code location
    monkeypatch.setenv("WAREHOUSE_DROP_DAY", DROP.isoformat())
    return tmp_path, port


def test_a_row_count_drop_in_another_code_location_alerts(workspace):
    from services.dagster_dev import DagsterDev

    home, port = workspace
    alerts = home / "alerts" / "warehouse.jsonl"
    with DagsterDev(home, workspace=home / "workspace.yaml", port=port) as dagster:
        params = {
            "assetSelection": [{"path": ["warehouse", "orders"]}],
            "partitionNames": [d.isoformat() for d in DAYS],
        }
        launched = dagster.query(BACKFILL, {"params": params})["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        status = _wait(lambda: dagster.query(STATUS, {"id": launched["backfillId"]})["partitionBackfillOrError"]["status"],
                       lambda s: s not in ("REQUESTED", "CANCELING"))  # fmt: skip
        assert status in ("COMPLETED", "COMPLETED_SUCCESS"), status
        messages = _wait(lambda: _messages(alerts), lambda found: any(m["day"] == DROP.isoformat() for m in found))

    points = MetricStore(home / "store").read_points("warehouse")
    assert set(points["metric"]) == {"dagster.row_count", "load_seconds"}
    assert {labels["asset"] for labels in points["labels"]} == {"warehouse/orders"}  # crm/leads is not selected
    assert len(points[points["metric"] == "dagster.row_count"]) == len(DAYS)
    dropped = next(m for m in messages if m["day"] == DROP.isoformat())
    alert = next(a for a in dropped["alerts"] if a.get("metric") == "dagster.row_count")
    assert alert["labels"] == {"asset": "warehouse/orders"} and alert["value"] == 300
    assert [m["day"] for m in messages] == [DROP.isoformat()]  # and no other day alerted


def _messages(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _wait(read, done, timeout: float = 600, every: float = 3):
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = read()
        if value is not None and done(value):
            return value
        time.sleep(every)
    raise AssertionError(f"gave up waiting after {timeout:.0f} s; last seen {value!r}")
