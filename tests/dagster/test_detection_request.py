"""The detection-request job the API launches: stored history in, verdicts stored."""

import json

import pandas as pd

from lupus_dagster.jobs.detection_request import lupus_detection_request
from lupus_dagster.resources.store import MetricStoreResource
from lupus_store import MetricStore


def test_detection_request_stores_verdicts_for_the_requested_range(tmp_path):
    store = MetricStore(tmp_path)
    values = [100.0] * 20 + [5.0] + [100.0] * 9
    for day, value in zip(pd.date_range("2026-01-01", periods=30, tz="UTC"), values, strict=True):
        frame = pd.DataFrame({"metric": ["rows.count"], "labels": [{}], "ts": [day], "value": [value]})
        store.write_points("ds", frame, day=day.date(), writer="metrics")
    rules = [{"metrics": ["rows.count"], "detector": {"kind": "threshold", "min": 50}}]
    result = lupus_detection_request.execute_in_process(
        run_config={"ops": {"detection_request": {"config": {
            "datasource": "ds", "start": "2026-01-15", "end": "2026-01-30", "rules_json": json.dumps(rules)}}}},
        resources={"store": MetricStoreResource(root=str(tmp_path))},
    )  # fmt: skip
    assert result.success
    assert result.output_for_node("detection_request") == {"evaluated": 16, "anomalies": 1, "errors": 0}
    flagged = store.read_anomalies("ds")
    assert flagged["ts"].dt.strftime("%Y-%m-%d").tolist() == ["2026-01-21"]
    assert flagged["run_id"].tolist() == [result.run_id]
    assert store.read_anomalies("ds", start="2026-01-01", end="2026-01-14", only_anomalies=False).empty


def test_bad_rules_fail_the_run_naming_the_field(tmp_path):
    result = lupus_detection_request.execute_in_process(
        run_config={"ops": {"detection_request": {"config": {
            "datasource": "ds", "start": "2026-01-01", "end": "2026-01-02",
            "rules_json": json.dumps([{"metrics": ["x"], "detector": {"kind": "nope"}}])}}}},
        resources={"store": MetricStoreResource(root=str(tmp_path))},
        raise_on_error=False,
    )  # fmt: skip
    assert not result.success
    failure = result.failure_data_for_node("detection_request")
    assert "invalid rules_json" in failure.error.message and "detector.kind" in failure.error.message
