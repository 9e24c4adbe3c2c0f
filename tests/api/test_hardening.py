"""Issue 17, item by item, through a live server: every bad input gets a clear 4xx problem, and a
refused request writes nothing (the store, the staging directory and every metadata table are read
before and after each one)."""

from __future__ import annotations

import io
import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.ipc as ipc
import pytest
from sqlalchemy import MetaData, select

from api.conftest import LiveApi
from api.live_server import ApiServer, seed
from lupus_store import MetricStore
from lupus_store.metadata import MetadataDB
from lupus_store.metadata.models import IngestBatch

GOOD = {"metric": "hardening.ok", "ts": "2026-07-01T00:00:00Z", "value": 1.0}
JSON = {"Content-Type": "application/json"}
# Written by any authenticated request, refused or not: when the token was last used (informational,
# at most once a minute). Everything else must stay as it was.
INFORMATIONAL = {"last_used_at"}


def _snapshot(live: LiveApi) -> dict:
    """Every file of the store and of staging, and every row of every metadata table."""
    _wait_until_ingested(live)
    home = live.server.home
    files = {str(p.relative_to(home)): p.stat().st_size for p in home.rglob("*")
             if p.is_file() and not p.name.startswith("server.log") and "metadata.db" not in p.name}  # fmt: skip
    db = MetadataDB(live.server.metadata_url)
    try:
        meta = MetaData()
        meta.reflect(db.engine)
        rows = {}
        with db.engine.connect() as connection:
            for name, table in sorted(meta.tables.items()):
                columns = [c for c in table.columns if c.name not in INFORMATIONAL]
                rows[name] = sorted(map(repr, connection.execute(select(*columns)).all()))
    finally:
        db.dispose()
    return {"files": files, "rows": rows}


def _wait_until_ingested(live: LiveApi, timeout: float = 30) -> None:
    db = MetadataDB(live.server.metadata_url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with db.session() as session:
                if not session.scalars(select(IngestBatch.id).where(IngestBatch.status == "staged")).first():
                    return
            time.sleep(0.05)
    finally:
        db.dispose()
    raise AssertionError("staged batches not ingested")


def refused(live: LiveApi, status: int, send: Callable[[], httpx.Response]) -> dict:
    """Send a request that must be refused with ``status``; assert a problem body and that nothing changed."""
    before = _snapshot(live)
    response = send()
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status and problem["detail"]
    assert len(response.content) < 2_000, "an error body must not echo its input"
    time.sleep(0.2)  # an ingest worker that (wrongly) took the batch would have written by now
    assert _snapshot(live) == before, f"a refused request ({status}) changed the store or the metadata database"
    return problem


def _push(live: LiveApi, body: bytes, headers: dict | None = None, token: str = "write_a") -> httpx.Response:
    with live.client(token) as client:
        return client.post("/datasources/ds-a/points", content=body, headers=headers if headers is not None else JSON)


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


# ---- 1. deep nesting and invalid UTF-8: 400, never a 500 -----------------------------------------


@pytest.mark.parametrize("where", ["labels", "extra top-level field", "extra point field"])
def test_a_body_nested_a_thousand_levels_deep_is_a_400_problem(live, where):
    point = json.dumps(GOOD)[:-1]
    body = {
        "labels": f'{{"points": [{point}, "labels": {_nested(1000)}}}]}}',
        "extra top-level field": f'{{"points": [{json.dumps(GOOD)}], "x": {_nested(1000)}}}',
        "extra point field": f'{{"points": [{point}, "x": {"[" * 1000}{"]" * 1000}}}]}}',
    }[where].encode()
    problem = refused(live, 400, lambda: _push(live, body))
    assert "nested deeper than" in problem["detail"] and problem["where"] == {"field": "body"}


@pytest.mark.parametrize("raw", [b"\xff", b"\xc3", b"\xed\xa0\x80"], ids=["0xff", "truncated", "surrogate"])
def test_a_body_that_is_not_utf8_is_a_400_problem_naming_the_byte(live, raw):
    body = b'{"points": [{"metric": "m' + raw + b'", "ts": "2026-07-01T00:00:00Z", "value": 1}]}'
    problem = refused(live, 400, lambda: _push(live, body))
    assert "not valid UTF-8" in problem["detail"] and f"0x{raw[0]:02x}" in problem["detail"]


def test_deep_or_undecodable_bodies_of_the_other_json_operations_are_400(live):
    with live.client("admin") as client:
        deep = refused(live, 400, lambda: client.post("/datasources", content=b'{"name": ' + b"[" * 100_000
                                                       + b"]" * 100_000 + b"}", headers=JSON))  # fmt: skip
        utf8 = refused(live, 400, lambda: client.post("/admin/tokens", content=b'{"name": "\xff"}', headers=JSON))
    assert deep["where"] == utf8["where"] == {"field": "body"}
    assert "nested too deeply" in deep["detail"] and "UTF-8" in utf8["detail"]


# ---- 2. one rule for names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["dsa\n", "ds-a\n", "dsa\r", "dsa\x00", "ds\u202ea"], ids=["newline", "shadow", "cr", "nul", "bidi"]
)
def test_a_datasource_name_with_a_trailing_newline_or_control_character_is_refused(live, name):
    with live.client("team_admin") as client:
        problem = refused(live, 422, lambda: client.post("/datasources", json={"name": name, "owner_team": "recsys"}))
    assert problem["where"]["field"] == "name"
    assert not list(live.server.store_root.glob("*/datasource=ds*\n*"))


@pytest.mark.parametrize(("labels", "metric"), [
    ({"region\n": "JP"}, "hardening.names"),
    ({"region": "JP\n"}, "hardening.names"),
    ({"region": "J\u200bP"}, "hardening.names"),  # a zero-width space (Cf)
    ({}, "hardening.names\n"),
    ({}, "hardening\x85names"),  # C1 control
    ({}, "hardening\u2028names"),  # line separator
])  # fmt: skip
def test_metric_names_and_labels_with_control_characters_are_refused_naming_the_row(live, labels, metric):
    body = json.dumps({"points": [GOOD, {**GOOD, "metric": metric, "labels": labels}]}).encode()
    problem = refused(live, 422, lambda: _push(live, body))
    assert problem["where"]["row"] == 1


@pytest.mark.parametrize("name", ["nightly\x00", "nightly\njob", "nightly\x85", " nightly", "x" * 101])
def test_token_names_follow_the_same_rule(live, name):
    with live.client("admin") as client:
        problem = refused(live, 422, lambda: client.post("/admin/tokens", json={"name": name, "scopes": ["admin"]}))
    assert problem["where"]["field"] == "name"


# ---- 3. strict types --------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["value", "n", "stderr", "ts"])
def test_true_is_not_a_number(live, field):
    body = json.dumps({"points": [GOOD, {**GOOD, "ts": "2026-07-01T00:01:00Z", field: True}]}).encode()
    problem = refused(live, 422, lambda: _push(live, body))
    assert problem["where"] == {"field": f"points[1].{field}", "row": 1} and "boolean" in problem["detail"]


def _arrow(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _upload(live: LiveApi, table: pa.Table, token: str = "write_a") -> httpx.Response:
    with live.client(token) as client:
        return client.post("/datasources/ds-a/points/upload", content=_arrow(table),
                           headers={"Content-Type": "application/vnd.apache.arrow.stream"})  # fmt: skip


def test_an_arrow_integer_ts_is_epoch_seconds_as_in_json(live):
    table = pa.table({"metric": ["hardening.arrow_ts"], "ts": pa.array([1767225600], pa.int64()), "value": [1.0]})
    accepted = _upload(live, table)
    assert accepted.status_code == 202, accepted.text
    live.wait_ingested("ds-a", accepted.json()["batch_id"])
    stored = MetricStore(live.server.store_root).read_points("ds-a", metrics="hardening.arrow_ts")
    assert stored["ts"].tolist() == [pd.Timestamp("2026-01-01T00:00:00Z")]


@pytest.mark.parametrize(
    "column", [pa.array(["2026-01-01"]), pa.array([1.7e9]), pa.array([True])], ids=["text", "float", "bool"]
)
def test_an_arrow_ts_that_is_not_a_timestamp_a_date_or_integer_seconds_is_refused(live, column):
    table = pa.table({"metric": ["hardening.arrow_ts_bad"], "ts": column, "value": [1.0]})
    problem = refused(live, 422, lambda: _upload(live, table))
    assert problem["where"]["field"] == "ts" and "epoch seconds" in problem["detail"]


def test_an_arrow_boolean_value_column_is_refused(live):
    table = pa.table({"metric": ["m"], "ts": pa.array([1767225600], pa.int64()), "value": [True]})
    problem = refused(live, 422, lambda: _upload(live, table))
    assert problem["where"]["field"] == "value"


def test_an_arrow_map_with_a_repeated_key_is_refused(live):
    labels = pa.array([[("region", "JP"), ("region", "US")]], pa.map_(pa.string(), pa.string()))
    table = pa.table({"metric": ["m"], "labels": labels, "ts": pa.array([1767225600], pa.int64()), "value": [1.0]})
    problem = refused(live, 422, lambda: _upload(live, table))
    assert problem["where"] == {"field": "points[0].labels", "row": 0} and "'region' appears twice" in problem["detail"]


@pytest.mark.parametrize("body", [
    b'{"points": [{"metric": "m", "labels": {"region": "JP", "region": "US"}, "ts": "2026-07-01T00:00:00Z", "value": 1}]}',
    b'{"points": [{"metric": "m", "ts": "2026-07-01T00:00:00Z", "value": 1, "value": 2}]}',
    b'{"points": [{"metric": "m", "ts": "2026-07-01T00:00:00Z", "value": 1, "\\u0076alue": 2}]}',
    b'{"points": [], "points": [{"metric": "m", "ts": "2026-07-01T00:00:00Z", "value": 1}]}',
], ids=["label key", "point field", "escaped point field", "top-level key"])  # fmt: skip
def test_a_json_key_repeated_in_one_object_is_refused(live, body):
    problem = refused(live, 422, lambda: _push(live, body))
    assert "appears twice" in problem["detail"]


# ---- 4. the series limit counts accepted batches only ---------------------------------------------


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    home = tmp_path_factory.mktemp("series-limit")
    url = f"sqlite:///{home / 'metadata.db'}"
    tokens = seed(url)
    server = ApiServer(home, url, env={"LUPUS_API_MAX_SERIES": "10"}).start()
    yield LiveApi(server, tokens)
    server.stop()


def _series_batch(metric: str, users: range) -> dict:
    return {"points": [{"metric": metric, "labels": {"user": str(u)}, "ts": "2026-07-01T00:00:00Z", "value": 1.0}
                       for u in users]}  # fmt: skip


def test_a_batch_refused_with_409_or_422_does_not_use_up_the_series_limit(limited):
    with limited.client("write_a") as client:
        first = client.post("/datasources/ds-a/points", json=_series_batch("limit.first", range(2)),
                            headers={"Idempotency-Key": "limit-key"})  # fmt: skip
        assert first.status_code == 202
        refused(limited, 409, lambda: client.post("/datasources/ds-a/points", json=_series_batch("limit.clash", range(8)),
                                                  headers={"Idempotency-Key": "limit-key"}))  # fmt: skip
        bad = _series_batch("limit.invalid", range(8))
        bad["points"].append({**GOOD, "value": "not a number"})
        refused(limited, 422, lambda: client.post("/datasources/ds-a/points", json=bad))
        # Had either refusal counted its 8 series, only 0 would be left.
        fills = client.post("/datasources/ds-a/points", json=_series_batch("limit.fill", range(8)))
        beyond = client.post("/datasources/ds-a/points", json=_series_batch("limit.beyond", range(1)))
    assert fills.status_code == 202, fills.text
    assert beyond.status_code == 422 and "limit of 10 series" in beyond.json()["detail"]


# ---- 5. media types and unknown fields ------------------------------------------------------------


@pytest.mark.parametrize(
    "media",
    [
        "text/plain",
        "application/xml",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
        None,
    ],
)
def test_json_sent_with_another_content_type_is_415(live, media):
    body = json.dumps({"points": [GOOD]}).encode()
    problem = refused(live, 415, lambda: _push(live, body, {"Content-Type": media} if media else {}))
    assert problem["where"] == {"field": "Content-Type"}


def test_other_json_operations_answer_415_too(live):
    with live.client("admin") as client:
        problem = refused(live, 415, lambda: client.post("/datasources", content=b'{"name": "x", "owner_team": "recsys"}',
                                                          headers={"Content-Type": "text/plain"}))  # fmt: skip
    assert "application/json" in problem["detail"]


def test_json_with_a_charset_of_utf8_is_accepted(live):
    response = _push(live, json.dumps({"points": [GOOD]}).encode(), {"Content-Type": "application/json; charset=UTF-8"})
    assert response.status_code == 202, response.text


def test_an_unknown_top_level_field_is_refused_like_an_unknown_point_field(live):
    problem = refused(live, 422, lambda: _push(live, json.dumps({"points": [GOOD], "note": "x"}).encode()))
    assert problem["where"]["field"] == "note"


# ---- 6. a blind retry cannot break detection -----------------------------------------------------


def _daily(metric: str, values: list[float]) -> list[dict]:
    days = pd.date_range("2026-08-01", periods=len(values), freq="D", tz="UTC")
    return [{"metric": metric, "labels": {"region": "JP"}, "ts": d.strftime("%Y-%m-%dT%H:%M:%SZ"), "value": v}
            for d, v in zip(days, values, strict=True)]  # fmt: skip


def test_a_push_retried_without_an_idempotency_key_reads_back_once_the_later_values(live):
    with live.client("write_a") as client:
        first = client.post("/datasources/ds-a/points", json={"points": _daily("retry.blind", [1.0, 2.0, 3.0])})
        live.wait_ingested("ds-a", first.json()["batch_id"])  # in the store before the retry: two writers' files
        second = client.post("/datasources/ds-a/points", json={"points": _daily("retry.blind", [1.0, 2.0, 30.0])})
        live.wait_ingested("ds-a", second.json()["batch_id"])
    assert first.json()["batch_id"] != second.json()["batch_id"]  # two batches: nothing told the server
    with live.client("read_a") as client:
        got = client.get("/datasources/ds-a/points", params={"metric": "retry.blind"}).json()["points"]
        series = client.get("/datasources/ds-a/series", params={"metric": "retry.blind"}).json()["series"]
    assert [p["value"] for p in got] == [1.0, 2.0, 30.0]
    assert [s["points"] for s in series] == [3]


def test_detection_on_a_series_pushed_twice_evaluates_every_point_once_without_errors(live):
    values = [100.0 + (i % 7) for i in range(40)]
    values[35] = 10.0  # one clear drop
    batch = {"points": _daily("retry.detect", values)}
    with live.client("team_rw") as client:
        for _ in range(2):  # a blind retry, after the first push was in the store: two writers' files
            live.wait_ingested(
                "ds-a", client.post("/datasources/ds-a/points", json=batch).json()["batch_id"], token="team_rw"
            )
        rules = [
            {"metrics": ["retry.detect"], "detector": {"kind": "window", "window": 14, "method": "mad", "threshold": 4}}
        ]
        request = client.post(
            "/datasources/ds-a/detections",
            json={"start": "2026-08-15", "end": "2026-09-09", "lookback_days": 30, "rules": rules},
        ).json()
        deadline = time.monotonic() + 120
        while (status := client.get(request["status_url"].removeprefix("/api/v1")).json())["status"] not in (
            "succeeded",
            "failed",
        ):
            assert time.monotonic() < deadline, status
            time.sleep(0.25)
    assert status["status"] == "succeeded", status
    assert status["result"]["errors"] == []  # no "duplicate timestamps"
    assert status["result"]["evaluated"] == 26  # 2026-08-15 .. 2026-09-09, each point once
    assert status["result"]["anomalies"] == 1


# ---- 7. short error bodies, authentication before the body -----------------------------------------


def test_an_error_quotes_at_most_200_characters_of_the_offending_value(live):
    problem = refused(
        live, 422, lambda: _push(live, json.dumps({"points": [{**GOOD, "metric": "m" * 100_000}]}).encode())
    )
    assert 200 <= problem["detail"].count("m") <= 260 and problem["detail"].endswith("…")


def test_an_error_quotes_numbers_as_json_not_as_python_reprs(live):
    table = pa.table({"metric": ["m"], "ts": pa.array([1767225600], pa.int64()), "value": pa.array([float("inf")])})
    problem = refused(live, 422, lambda: _upload(live, table))
    assert problem["detail"].endswith("got Infinity") and "np." not in problem["detail"]


def _answer_without_sending_the_body(url: str, token: str, length: int) -> tuple[bytes, float]:
    host, port = url.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall((f"POST /api/v1/datasources/ds-a/points HTTP/1.1\r\nHost: {host}\r\n"
                      f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {length}\r\n\r\n").encode())  # fmt: skip
        return sock.recv(4096), time.monotonic() - started


@pytest.mark.parametrize(("token", "status"), [("lps_unknown", b"401"), ("read_a", b"403"), ("other", b"403")])
def test_the_token_is_checked_before_the_body_is_read(live, token, status):
    # 60 MB announced, none sent: a server that read the body first would wait for it (10 s timeout).
    answer, seconds = _answer_without_sending_the_body(live.url, live.tokens.get(token, token), 60_000_000)
    assert answer.split(b" ", 2)[1] == status, answer[:200]
    assert seconds < 5


def test_a_problem_body_stays_json_for_every_refusal(live):
    with live.client("write_a") as client:
        answers = [client.post("/datasources/ds-a/points", content=b, headers=JSON)
                   for b in (b"", b"null", b"[]", b'{"points": null}', b'{"points": [null]}', b"\x00")]  # fmt: skip
    assert {a.status_code for a in answers} <= {400, 422}
    assert all(a.headers["content-type"] == "application/problem+json" for a in answers)


def test_the_store_of_a_refused_datasource_name_does_not_exist(live):
    assert not [p for p in Path(live.server.store_root).rglob("*") if "\n" in p.name]
