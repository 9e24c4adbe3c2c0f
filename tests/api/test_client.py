"""LupusClient against a live server: push, query, detection, errors, retries across a server start."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest
from services.ports import free_port

from api.live_server import ApiServer, seed
from lupus_metrics.client import LupusApiError, LupusClient


def _frame(n: int, metric: str, start: str = "2026-05-01") -> pd.DataFrame:
    return pd.DataFrame({
        "metric": metric,
        "labels": [{"region": "JP" if i % 2 else "US"} for i in range(n)],
        "ts": pd.date_range(start, periods=n // 2, freq="min", tz="UTC").repeat(2),
        "value": np.arange(n, dtype=float),
    })  # fmt: skip


def test_the_client_pushes_a_frame_in_batches_and_reads_it_back_page_by_page(live):
    frame = _frame(12_000, "client.rows")
    with LupusClient(live.url, live.tokens["write_a"], batch_size=5_000) as writer:
        batch_ids = writer.push("ds-a", frame)
        writer.wait_for_batches("ds-a", batch_ids)
    with LupusClient(live.url, live.tokens["read_a"]) as reader:
        got = reader.query("ds-a", metrics="client.rows", page_size=5_000)
        jp = reader.query(
            "ds-a", metrics=["client.rows"], labels={"region": "JP"}, start="2026-05-01", end="2026-05-01"
        )
        series = reader.series("ds-a", metrics="client.rows")
    assert len(batch_ids) == 3 and len(set(batch_ids)) == 3
    assert len(got) == 12_000 and got["value"].sum() == frame["value"].sum()
    assert str(got["ts"].dtype).endswith("UTC]")
    assert len(jp) == 1_440 and set(jp["labels"].map(lambda d: d["region"])) == {"JP"}
    assert sorted(series["points"]) == [6_000, 6_000]


def test_rerunning_a_job_with_the_same_idempotency_key_stores_nothing_twice(live):
    frame = _frame(3_000, "client.rerun")
    with LupusClient(live.url, live.tokens["write_a"], batch_size=1_000) as client:
        first = client.push("ds-a", frame, idempotency_key="job-42")
        second = client.push("ds-a", frame, idempotency_key="job-42")
        client.wait_for_batches("ds-a", first)
    with LupusClient(live.url, live.tokens["read_a"]) as reader:
        assert len(reader.query("ds-a", metrics="client.rerun")) == 3_000
    assert first == second


def test_the_client_requests_detection_and_reads_the_anomalies(live):
    values = [100.0] * 20 + [3.0] + [100.0] * 9
    frame = pd.DataFrame(
        {
            "metric": "client.daily",
            "labels": [{}] * 30,
            "value": values,
            "ts": pd.date_range("2026-06-01", periods=30, tz="UTC"),
        }
    )
    rules = [{"metrics": ["client.daily"], "detector": {"kind": "threshold", "min": 50}}]
    with LupusClient(live.url, live.tokens["team_rw"]) as client:
        client.wait_for_batches("ds-a", client.push("ds-a", frame))
        request_id = client.request_detection("ds-a", start="2026-06-10", end="2026-06-30", rules=rules)
        final = client.wait_for_detection("ds-a", request_id, timeout=120)
        flagged = client.anomalies("ds-a", metrics="client.daily")
        every = client.anomalies("ds-a", metrics="client.daily", only_anomalies=False)
    assert final["status"] == "succeeded", final
    assert final["backend"] == "local" and final["result"]["anomalies"] == 1
    assert flagged["ts"].dt.strftime("%Y-%m-%d").tolist() == ["2026-06-21"]
    assert flagged["run_id"].tolist() == [request_id] and len(every) == 21


def test_refusals_raise_with_the_problem_details(live):
    with LupusClient(live.url, live.tokens["read_a"]) as client, pytest.raises(LupusApiError) as refused:
        client.push("ds-a", _frame(2, "client.refused"))
    assert refused.value.status == 403 and refused.value.problem["where"]["field"] == "Authorization"
    with LupusClient(live.url, live.tokens["team_rw"]) as client, pytest.raises(LupusApiError) as invalid:
        client.request_detection(
            "ds-a", start="2026-01-01", end="2026-01-02", rules=[{"metrics": ["x"], "detector": {"kind": "nope"}}]
        )
    assert invalid.value.status == 422 and invalid.value.problem["where"]["field"].startswith("rules[0].detector")


@pytest.mark.slow
def test_the_client_retries_until_a_server_that_was_down_comes_up(tmp_path):
    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    tokens = seed(url)
    server = ApiServer(tmp_path, url, port=free_port())
    starter = threading.Timer(1.0, server.start)
    started = time.monotonic()
    starter.start()
    try:
        with LupusClient(server.url, tokens["write_a"], retries=12, backoff=0.5, max_backoff=3) as client:
            batch_ids = client.push("ds-a", _frame(10, "client.retry"))
            client.wait_for_batches("ds-a", batch_ids)
        assert time.monotonic() - started > 1.0 and len(batch_ids) == 1
    finally:
        starter.join()
        server.stop()


def test_the_client_pushes_and_reads_support_and_standard_error(live):
    frame = _frame(4, "client.noise").assign(n=[100.0, np.nan, 300.0, 400.0], stderr=[0.1, 0.2, np.nan, 0.4])
    with LupusClient(live.url, live.tokens["write_a"]) as writer:
        writer.wait_for_batches("ds-a", writer.push("ds-a", frame))
    with LupusClient(live.url, live.tokens["read_a"]) as reader:
        got = reader.query("ds-a", metrics="client.noise").sort_values("value").reset_index(drop=True)
    np.testing.assert_array_equal(got["n"].to_numpy(), frame["n"].to_numpy())
    np.testing.assert_array_equal(got["stderr"].to_numpy(), frame["stderr"].to_numpy())


@pytest.mark.parametrize(("datasource", "frame"), [
    ("ds-a\n", _frame(2, "client.names")),  # the datasource becomes a URL path segment
    ("../admin", _frame(2, "client.names")),
    ("ds-a", _frame(2, "client.names\x85")),
    ("ds-a", _frame(2, "client.names").assign(labels=[{"region\n": "JP"}, {"region": "US"}])),
    ("ds-a", _frame(2, "client.names").assign(value=[1.0, True])),
])  # fmt: skip
def test_the_client_refuses_bad_names_and_booleans_before_sending_anything(live, datasource, frame):
    from lupus_metrics.errors import LupusValidationError

    sent = []
    with LupusClient(live.url, live.tokens["write_a"]) as client:
        client._http.event_hooks["request"].append(sent.append)
        with pytest.raises((LupusValidationError, ValueError)):
            client.push(datasource, frame)
        with pytest.raises(LupusValidationError):
            client.query(datasource if datasource != "ds-a" else "ds-a\n")
    assert sent == []


def test_the_client_sends_numbers_as_ts_as_epoch_seconds_as_the_server_reads_them():
    from lupus_metrics.client import points_payload

    assert (
        points_payload([{"metric": "m", "ts": 1767225600, "value": 1.0}])["points"][0]["ts"]
        == "2026-01-01T00:00:00+00:00"
    )
    with pytest.raises(ValueError, match="ts"):
        points_payload([{"metric": "m", "ts": True, "value": 1.0}])
