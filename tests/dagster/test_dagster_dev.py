"""`dagster dev` on the real workspace, headless: the asset graph and a run through GraphQL, then a clean stop."""

import time
import urllib.request

import pytest
from services.dagster_dev import graphql, group_gone

from lupus_cli.serve import start_dagster_dev, stop, wait_for_http

pytestmark = pytest.mark.slow

ASSETS = "{ assetNodes { assetKey { path } groupName } }"
LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) { __typename ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message } ... on RunConfigValidationInvalid { errors { message } } }
}"""
RUN = "query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status jobName } } }"


def test_dagster_dev_serves_the_asset_graph_and_runs_a_job(tmp_path, monkeypatch):
    from services.ports import free_port

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.setenv("LUPUS_HOME", str(tmp_path / "home"))
    (tmp_path / "dagster").mkdir()
    (tmp_path / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = free_port()
    process = start_dagster_dev(tmp_path, port=port)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/server_info", timeout=600)
        nodes = graphql(port, ASSETS)["assetNodes"]
        keys = {tuple(n["assetKey"]["path"]) for n in nodes}
        assert {("recommend", "metrics"), ("recommend", "anomalies"), ("demand_forecaster", "metrics")} <= keys
        params = {
            "selector": {"repositoryLocationName": "lupus", "repositoryName": "__repository__",
                         "jobName": "lupus_detection_request"},
            "runConfigData": {"ops": {"detection_request": {"config": {
                "datasource": "recommend", "start": "2026-01-01", "end": "2026-01-02", "rules_json": "[]"}}}},
        }  # fmt: skip
        launched = graphql(port, LAUNCH, {"params": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]
        deadline = time.monotonic() + 300
        status = None
        while time.monotonic() < deadline:
            run = graphql(port, RUN, {"id": run_id})["runOrError"]
            status = run["status"]
            if status in ("SUCCESS", "FAILURE", "CANCELED"):
                break
            time.sleep(2)
        assert status == "SUCCESS" and run["jobName"] == "lupus_detection_request"
    finally:
        stop(process)
    assert process.returncode is not None
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=3)
    assert group_gone(process.pid), "dagster dev left processes behind"
