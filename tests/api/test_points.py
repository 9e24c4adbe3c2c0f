"""Pushing points and reading them back through a live server: durability, idempotency, clear errors."""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from api.conftest import points
from lupus_store import MetricStore


def _store(live) -> MetricStore:
    return MetricStore(live.server.store_root)


def test_a_pushed_batch_is_acknowledged_then_queryable(live):
    with live.client("write_a") as client:
        accepted = client.post("/datasources/ds-a/points", json={"points": points(5, metric="push.basic")})
    assert accepted.status_code == 202
    body = accepted.json()
    assert body["points"] == 5 and body["duplicate"] is False
    assert live.wait_ingested("ds-a", body["batch_id"])["points"] == 5
    with live.client("read_a") as client:
        got = client.get("/datasources/ds-a/points", params={"metric": "push.basic"}).json()["points"]
    assert [p["value"] for p in got] == [0.0, 1.0, 2.0, 3.0, 4.0]
    stored = _store(live).read_points("ds-a", metrics="push.basic", provenance=True)
    assert set(stored["writer"]) == {f"push-{body['batch_id']}"} and set(stored["source"]) == {"push"}


def test_resending_the_same_idempotency_key_returns_the_original_batch_and_stores_once(live):
    batch = {"points": points(4, metric="push.idempotent")}
    with live.client("write_a") as client:
        first = client.post("/datasources/ds-a/points", json=batch, headers={"Idempotency-Key": "nightly-2026-01-01"})
        live.wait_ingested("ds-a", first.json()["batch_id"])
        again = client.post("/datasources/ds-a/points", json=batch, headers={"Idempotency-Key": "nightly-2026-01-01"})
    assert again.status_code == 202
    assert again.json()["batch_id"] == first.json()["batch_id"] and again.json()["duplicate"] is True
    assert len(_store(live).read_points("ds-a", metrics="push.idempotent")) == 4


def test_reusing_an_idempotency_key_for_other_points_is_a_conflict(live):
    with live.client("write_a") as client:
        client.post(
            "/datasources/ds-a/points",
            json={"points": points(1, metric="push.key")},
            headers={"Idempotency-Key": "k-9"},
        )
        clash = client.post(
            "/datasources/ds-a/points",
            json={"points": points(2, metric="push.key")},
            headers={"Idempotency-Key": "k-9"},
        )
    assert clash.status_code == 409
    assert clash.json()["where"]["field"] == "Idempotency-Key"


@pytest.mark.parametrize(("point", "field", "words"), [
    ({"metric": "", "ts": "2026-01-01", "value": 1}, "points[1].metric", "metric"),
    ({"metric": "m", "ts": "not a time", "value": 1}, "points[1].ts", "datetime"),
    ({"metric": "m", "ts": "2026-01-01", "value": "abc"}, "points[1].value", "number"),
    ({"metric": "m", "labels": {"bad key": "x"}, "ts": "2026-01-01", "value": 1}, "points[1].labels", "key"),
    ({"metric": "m", "ts": "2026-01-01", "value": 1, "extra": 1}, "points[1].extra", "not permitted"),
])  # fmt: skip
def test_an_invalid_point_is_rejected_naming_field_and_row_and_nothing_is_staged(live, point, field, words):
    good = {"metric": "push.rejected", "ts": "2026-01-01T00:00:00Z", "value": 1.0}
    with live.client("write_a") as client:
        response = client.post("/datasources/ds-a/points", json={"points": [good, point]})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["where"] == {"field": field, "row": 1}
    assert words in problem["detail"].lower()
    assert _store(live).read_points("ds-a", metrics="push.rejected").empty


def test_a_duplicate_series_and_ts_in_one_batch_is_rejected_naming_the_row(live):
    twice = points(2, metric="push.dup") + points(1, metric="push.dup")
    with live.client("write_a") as client:
        response = client.post("/datasources/ds-a/points", json={"points": twice})
    assert response.status_code == 422
    assert response.json()["where"]["row"] == 2 and "duplicate" in response.json()["detail"]


def test_malformed_json_is_a_400_problem_not_a_crash(live):
    with live.client("write_a") as client:
        response = client.post(
            "/datasources/ds-a/points", content=b'{"points": [', headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 400 and response.json()["where"] == {"field": "body"}
    assert "not valid JSON" in response.json()["detail"]


def _arrow_stream(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


@pytest.mark.parametrize(
    ("encode", "media"),
    [(_arrow_stream, "application/vnd.apache.arrow.stream"), (_parquet, "application/vnd.apache.parquet")],
)
def test_a_large_batch_uploads_as_arrow_or_parquet(live, encode, media):
    n = 20_000
    metric = f"upload.{media.rsplit('.', 1)[1]}"
    table = pa.table({
        "metric": [metric] * n,
        "labels": pa.array([[("region", "JP" if i % 2 else "US")] for i in range(n)], pa.map_(pa.string(), pa.string())),
        "ts": pa.array(pd.date_range("2026-02-01", periods=n // 2, freq="min", tz="UTC").repeat(2)),
        "value": pa.array(range(n), pa.float64()),
    })  # fmt: skip
    with live.client("write_a") as client:
        response = client.post(
            "/datasources/ds-a/points/upload", content=encode(table), headers={"Content-Type": media}
        )
    assert response.status_code == 202, response.text
    live.wait_ingested("ds-a", response.json()["batch_id"])
    stored = _store(live).read_points("ds-a", metrics=metric)
    assert len(stored) == n and stored["value"].sum() == sum(range(n))
    assert set(stored["ts"].dt.date.astype(str)) == {
        "2026-02-01",
        "2026-02-02",
        "2026-02-03",
        "2026-02-04",
        "2026-02-05",
        "2026-02-06",
        "2026-02-07",
    }


def test_an_upload_that_is_not_arrow_is_rejected_clearly(live):
    with live.client("write_a") as client:
        garbage = client.post(
            "/datasources/ds-a/points/upload",
            content=b"hello",
            headers={"Content-Type": "application/vnd.apache.parquet"},
        )
        untyped = client.post(
            "/datasources/ds-a/points/upload", content=b"hello", headers={"Content-Type": "text/plain"}
        )
    assert garbage.status_code == 422 and "Parquet" in garbage.json()["detail"]
    assert untyped.status_code == 415 and untyped.json()["where"]["field"] == "Content-Type"


def test_queries_filter_by_metric_labels_and_time_and_page_through_results(live):
    batch = (
        points(30, metric="query.m", labels={"region": "JP"}, day="2026-03-01")
        + points(30, metric="query.m", labels={"region": "US"}, day="2026-03-01")
        + points(10, metric="query.other", day="2026-03-02")
    )
    with live.client("write_a") as client:
        live.wait_ingested("ds-a", client.post("/datasources/ds-a/points", json={"points": batch}).json()["batch_id"])
    with live.client("read_a") as client:
        jp = client.get(
            "/datasources/ds-a/points",
            params={"metric": "query.m", "label": "region:JP", "start": "2026-03-01T00:10:00Z", "end": "2026-03-01"},
        ).json()
        assert [p["value"] for p in jp["points"]] == [float(i) for i in range(10, 30)]
        seen, cursor = [], None
        while True:
            page = client.get(
                "/datasources/ds-a/points",
                params={"metric": ["query.m", "query.other"], "limit": 7, **({"cursor": cursor} if cursor else {})},
            ).json()
            seen += page["points"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        series = client.get("/datasources/ds-a/series", params={"metric": "query.m"}).json()["series"]
        bad_time = client.get("/datasources/ds-a/points", params={"start": "yesterday-ish"})
    assert len(seen) == 70 and len({(p["series_id"], p["ts"]) for p in seen}) == 70
    assert sorted(s["labels"]["region"] for s in series) == ["JP", "US"] and {s["points"] for s in series} == {30}
    assert bad_time.status_code == 422 and bad_time.json()["where"]["field"] == "start"


def test_missing_values_round_trip_as_null(live):
    batch = [{"metric": "push.missing", "ts": "2026-04-01T00:00:00Z", "value": None}]
    with live.client("write_a") as client:
        live.wait_ingested("ds-a", client.post("/datasources/ds-a/points", json={"points": batch}).json()["batch_id"])
    with live.client("read_a") as client:
        assert (
            client.get("/datasources/ds-a/points", params={"metric": "push.missing"}).json()["points"][0]["value"]
            is None
        )


def test_an_unknown_batch_id_is_404(live):
    with live.client("write_a") as client:
        response = client.get("/datasources/ds-a/batches/0123456789abcdef")
    assert response.status_code == 404 and response.json()["where"]["field"] == "batch_id"


# Plain RFC 3339 timestamps take the fast decoder; a date-only ts takes the pydantic path.
@pytest.mark.parametrize("ts", ["2026-04-02T00:00:00Z", "2026-04-02"], ids=["plain", "typed"])
def test_support_and_standard_error_are_pushed_stored_and_queried(live, ts):
    metric = f"push.noise.{len(ts)}"
    batch = [
        {"metric": metric, "labels": {"region": "JP"}, "ts": ts, "value": 0.41, "n": 5000, "stderr": 0.004},
        {"metric": metric, "labels": {"region": "US"}, "ts": ts, "value": 0.39},
        {"metric": metric, "labels": {"region": "DE"}, "ts": ts, "value": 0.40, "n": None, "stderr": 0.01},
    ]
    with live.client("write_a") as client:
        live.wait_ingested("ds-a", client.post("/datasources/ds-a/points", json={"points": batch}).json()["batch_id"])
    with live.client("read_a") as client:
        got = client.get("/datasources/ds-a/points", params={"metric": metric}).json()["points"]
    by_region = {p["labels"]["region"]: (p["n"], p["stderr"]) for p in got}
    assert by_region == {"JP": (5000.0, 0.004), "US": (None, None), "DE": (None, 0.01)}
    stored = _store(live).read_points("ds-a", metrics=metric)
    assert stored["n"].notna().sum() == 1 and stored["stderr"].notna().sum() == 2


@pytest.mark.parametrize(("field", "bad"), [("n", -3), ("stderr", -0.1)])
def test_negative_support_or_standard_error_is_refused_naming_the_row(live, field, bad):
    batch = [{"metric": "push.noise.bad", "ts": "2026-04-03T00:00:00Z", "value": 1.0},
             {"metric": "push.noise.bad", "ts": "2026-04-03T00:01:00Z", "value": 1.0, field: bad}]  # fmt: skip
    with live.client("write_a") as client:
        response = client.post("/datasources/ds-a/points", json={"points": batch})
    assert response.status_code == 422, response.text
    assert response.json()["where"] == {"field": f"points[1].{field}", "row": 1}
    assert _store(live).read_points("ds-a", metrics="push.noise.bad").empty


def test_an_arrow_upload_carries_support_and_standard_error(live):
    table = pa.table({
        "metric": ["upload.noise"] * 3,
        "ts": pa.array(pd.date_range("2026-04-04", periods=3, freq="h", tz="UTC")),
        "value": [1.0, 2.0, 3.0],
        "n": pa.array([10.0, None, 30.0]),
        "stderr": pa.array([0.1, 0.2, None]),
    })  # fmt: skip
    with live.client("write_a") as client:
        response = client.post("/datasources/ds-a/points/upload", content=_arrow_stream(table),
                               headers={"Content-Type": "application/vnd.apache.arrow.stream"})  # fmt: skip
    assert response.status_code == 202, response.text
    live.wait_ingested("ds-a", response.json()["batch_id"])
    stored = _store(live).read_points("ds-a", metrics="upload.noise")
    assert stored["n"].tolist()[::2] == [10.0, 30.0] and stored["n"].isna().tolist() == [False, True, False]
    assert stored["stderr"].tolist()[:2] == [0.1, 0.2] and pd.isna(stored["stderr"].iloc[2])
