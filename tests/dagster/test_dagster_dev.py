"""`dagster dev` on the real workspace, headless: the asset graph and a run through GraphQL, then a clean stop."""

import time
import urllib.request

import pytest
from services.dagster_dev import graphql, group_gone

from lupus_cli.serve import start_dagster_dev, stop, wait_for_http
from lupus_dagster.demo.run import demo_instance_yaml

pytestmark = pytest.mark.slow

ASSETS = "{ assetNodes { assetKey { path } groupName } }"
LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) { __typename ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message } ... on RunConfigValidationInvalid { errors { message } } }
}"""
RUN = "query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status jobName } } }"
LOGS = "query($id: ID!) { logsForRun(runId: $id) { __typename ... on EventConnection { events { __typename } } } }"


def test_dagster_dev_serves_the_asset_graph_and_runs_a_job(tmp_path, monkeypatch):
    from services.ports import free_port

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.setenv("LUPUS_HOME", str(tmp_path / "home"))
    (tmp_path / "dagster").mkdir()
    # The demo's instance: SQLite with Lupus's event log (lupus_dagster/sqlite_event_log.py).
    (tmp_path / "dagster" / "dagster.yaml").write_text(demo_instance_yaml(tmp_path / "dagster"))
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
        # The run worker wrote its events through Lupus's event log; the webserver reads them back.
        events = [e["__typename"] for e in graphql(port, LOGS, {"id": run_id})["logsForRun"]["events"]]
        assert "RunStartEvent" in events and "RunSuccessEvent" in events
    finally:
        stop(process)
    assert process.returncode is not None
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=3)
    assert group_gone(process.pid), "dagster dev left processes behind"
