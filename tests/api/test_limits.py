"""Limits: body size (413), points per batch (413), series per datasource (422 naming the metric),
rate per token (429 with Retry-After). A server with small limits, SQLite metadata."""

from __future__ import annotations

import time

import pytest

from api.conftest import LiveApi, points
from api.live_server import ApiServer, seed

LIMITS = {
    "LUPUS_API_MAX_BODY_BYTES": "200000",
    "LUPUS_API_MAX_POINTS": "1000",
    "LUPUS_API_MAX_SERIES": "20",
    "LUPUS_API_RATE": "2",
    "LUPUS_API_BURST": "6",
}


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    home = tmp_path_factory.mktemp("limited")
    url = f"sqlite:///{home / 'metadata.db'}"
    tokens = seed(url)
    server = ApiServer(home, url, env=LIMITS).start()
    yield LiveApi(server, tokens)
    server.stop()


def test_a_body_over_the_size_limit_is_413(limited):
    with limited.client("write_a") as client:
        response = client.post(
            "/datasources/ds-a/points", content=b"x" * 250_000, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert "200000 bytes" in response.json()["detail"]


def test_a_streamed_body_over_the_size_limit_is_413(limited):
    def chunks():
        for _ in range(50):
            yield b"y" * 10_000

    with limited.client("admin") as client:
        response = client.post(
            "/datasources/ds-a/points", content=chunks(), headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 413


def test_too_many_points_in_one_batch_is_413_naming_the_limit(limited):
    with limited.client("team_admin") as client:
        response = client.post("/datasources/ds-a/points", json={"points": points(1001, metric="m")})
    assert response.status_code == 413
    assert "at most 1000" in response.json()["detail"] and response.json()["where"]["field"] == "points"


def test_new_series_beyond_the_cardinality_limit_are_rejected_naming_the_metric(limited):
    def batch(metric, users):
        return [
            {"metric": metric, "labels": {"user": str(u)}, "ts": "2026-01-01T00:00:00Z", "value": 1.0} for u in users
        ]

    with limited.client("team_rw") as client:
        assert (
            client.post("/datasources/ds-a/points", json={"points": batch("ok.metric", range(15))}).status_code == 202
        )
        rejected = client.post("/datasources/ds-a/points", json={"points": batch("per_user.clicks", range(10))})
        known_again = client.post("/datasources/ds-a/points", json={"points": batch("ok.metric", range(15))})
    assert rejected.status_code == 422
    assert "'per_user.clicks'" in rejected.json()["detail"] and "20 series" in rejected.json()["detail"]
    assert known_again.status_code == 202  # existing series are always accepted


def test_a_token_over_its_rate_is_told_when_to_come_back(limited):
    with limited.client("read_a") as client:
        statuses = [client.get("/datasources/ds-a").status_code for _ in range(12)]
        throttled = client.get("/datasources/ds-a")
        time.sleep(float(throttled.headers.get("Retry-After", "1")) + 0.1)
        recovered = client.get("/datasources/ds-a")
    assert statuses[:6] == [200] * 6 and 429 in statuses
    assert throttled.status_code == 429 and throttled.json()["status"] == 429
    assert recovered.status_code == 200
