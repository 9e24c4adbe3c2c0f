"""Detection requests through a real dagster-webserver loading workspace.yaml: the API submits
`lupus_detection_request` with DagsterGraphQLClient, returns the run id and reports the run's status."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
from services.ports import free_port

from api.live_server import REPO, ApiServer, seed
from lupus_metrics.client import LupusClient
from lupus_store import MetricStore

WEBSERVER = Path(sys.executable).with_name("dagster-webserver")


def _default_signals() -> None:
    # A child of a non-interactive shell inherits SIGINT ignored; restore it so the server can be stopped.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.fixture
def dagster_webserver(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    # No dagster-daemon here: launch submitted runs at once instead of queueing them for the daemon.
    (home / "dagster.yaml").write_text(
        "run_coordinator:\n  module: dagster._core.run_coordinator\n  class: DefaultRunCoordinator\n"
    )
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "LUPUS_STORE": str(tmp_path / "store"), "LUPUS_HOME": str(tmp_path)}
    log = open(tmp_path / "dagster.log", "wb")  # noqa: SIM115 - written by the server while it runs
    process = subprocess.Popen(
        [str(WEBSERVER), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_default_signals,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while True:
        try:
            if httpx.get(f"{url}/server_info", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert process.poll() is None, (tmp_path / "dagster.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "dagster-webserver did not start"
        time.sleep(0.5)
    yield url
    os.killpg(process.pid, signal.SIGTERM)  # the group of the server started above (and its run workers)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    log.close()


@pytest.mark.slow
def test_a_detection_request_becomes_a_dagster_run_whose_status_the_api_reports(dagster_webserver, tmp_path):
    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    tokens = seed(url)
    server = ApiServer(tmp_path, url, env={"LUPUS_DAGSTER_URL": dagster_webserver}).start()
    try:
        values = [100.0] * 20 + [3.0] + [100.0] * 9
        frame = pd.DataFrame(
            {
                "metric": "dagster.daily",
                "labels": [{}] * 30,
                "value": values,
                "ts": pd.date_range("2026-06-01", periods=30, tz="UTC"),
            }
        )
        rules = [{"metrics": ["dagster.daily"], "detector": {"kind": "threshold", "min": 50}}]
        with LupusClient(server.url, tokens["team_rw"]) as client:
            client.wait_for_batches("ds-a", client.push("ds-a", frame))
            run_id = client.request_detection("ds-a", start="2026-06-10", end="2026-06-30", rules=rules)
            first = client.detection_status("ds-a", run_id)
            final = client.wait_for_detection("ds-a", run_id, timeout=300)
        assert first["backend"] == "dagster" and first["status"] in ("queued", "running", "succeeded")
        assert final["status"] == "succeeded", final
        run = httpx.post(f"{dagster_webserver}/graphql", json={
            "query": "query($id: ID!) { runOrError(runId: $id) { ... on Run { jobName status tags { key value } } } }",
            "variables": {"id": run_id}}, timeout=30).json()["data"]["runOrError"]  # fmt: skip
        assert run["jobName"] == "lupus_detection_request" and run["status"] == "SUCCESS"
        assert {"key": "lupus/datasource", "value": "ds-a"} in run["tags"]
        flagged = MetricStore(server.store_root).read_anomalies("ds-a")
        assert flagged["ts"].dt.strftime("%Y-%m-%d").tolist() == ["2026-06-21"]
        assert flagged["run_id"].tolist() == [run_id]
    finally:
        server.stop()


@pytest.mark.slow
def test_an_unreachable_dagster_is_a_503_problem(tmp_path):
    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    tokens = seed(url)
    server = ApiServer(tmp_path, url, env={"LUPUS_DAGSTER_URL": f"http://127.0.0.1:{free_port()}"}).start()
    try:
        with httpx.Client(
            base_url=f"{server.url}/api/v1", headers={"Authorization": f"Bearer {tokens['team_rw']}"}, timeout=60
        ) as client:
            response = client.post("/datasources/ds-a/detections", json={
                "start": "2026-01-01", "end": "2026-01-02",
                "rules": [{"metrics": ["x"], "detector": {"kind": "threshold", "min": 1}}]})  # fmt: skip
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json" and "Dagster" in response.json()["detail"]
    finally:
        server.stop()
