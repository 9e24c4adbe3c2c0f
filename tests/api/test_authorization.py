"""The authorisation matrix: every endpoint x (no token, unknown, revoked, expired, token of another
datasource, token lacking the scope) -> 401/403, and a positive case for each; SQLite and PostgreSQL."""

from __future__ import annotations

import io
import itertools
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

from api.conftest import points

_names = itertools.count()


def _arrow_body() -> bytes:
    table = pa.table({"metric": ["rows.count"], "ts": pa.array([0], pa.timestamp("s", tz="UTC")), "value": [1.0]})
    sink = io.BytesIO()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    operation: str  # read | write | admin | any: what the token needs on ds-a (or globally)
    positive: str  # a token that may call it
    status: int  # expected status of the positive call
    body: Any = None
    per_datasource: bool = True  # False: lists filtered to what the token may see (tested apart)

    def request(self, live, token: str | None, ids: dict[str, str]):
        kwargs: dict[str, Any] = {}
        body = self.body() if callable(self.body) else self.body
        if isinstance(body, bytes):
            kwargs = {"content": body, "headers": {"Content-Type": "application/vnd.apache.arrow.stream"}}
        elif body is not None:
            kwargs = {"json": body}
        with live.client(token) as client:
            return client.request(self.method, self.path.format(**ids), **kwargs)


def _new_ds() -> dict:
    return {"name": f"created-{next(_names)}", "owner_team": "recsys"}


DETECT = {
    "start": "2026-01-01",
    "end": "2026-01-01",
    "rules": [{"metrics": ["rows.count"], "detector": {"kind": "threshold", "max": 100}}],
}

ENDPOINTS = [
    Endpoint("GET", "/datasources/ds-a", "any", "read_a", 200),
    Endpoint("PATCH", "/datasources/ds-a", "admin", "team_admin", 200, {"description": "recsys metrics"}),
    Endpoint("POST", "/datasources/ds-a/points", "write", "write_a", 202, lambda: {"points": points(2)}),
    Endpoint("POST", "/datasources/ds-a/points/upload", "write", "write_a", 202, _arrow_body),
    Endpoint("GET", "/datasources/ds-a/batches/{batch}", "any", "write_a", 200),
    Endpoint("GET", "/datasources/ds-a/points", "read", "read_a", 200),
    Endpoint("GET", "/datasources/ds-a/series", "read", "read_a", 200),
    Endpoint("GET", "/datasources/ds-a/anomalies", "read", "read_a", 200),
    Endpoint("POST", "/datasources/ds-a/detections", "write", "team_rw", 202, DETECT),
    Endpoint("GET", "/datasources/ds-a/detections/{detection}", "any", "read_a", 200),
    Endpoint("POST", "/datasources", "admin", "admin", 201, _new_ds),
    Endpoint("GET", "/datasources", "token", "read_a", 200, per_datasource=False),
    Endpoint(
        "POST", "/admin/tokens", "admin", "team_admin", 201, {"name": "t", "scopes": ["read"], "datasource": "ds-a"}
    ),
    Endpoint("GET", "/admin/tokens", "admin", "admin", 200, per_datasource=False),
    # Another team's token id answers as an unknown id does (404, tested apart): nothing to tell apart.
    Endpoint("DELETE", "/admin/tokens/{victim}", "admin", "team_admin", 200, per_datasource=False),
]
IDS = [f"{e.method} {e.path}" for e in ENDPOINTS]


@pytest.fixture(scope="module")
def ids(live) -> dict[str, str]:
    """A batch, a detection request and a spare ds-a token to address by id."""
    with live.client("admin") as admin:
        batch = admin.post("/datasources/ds-a/points", json={"points": points(1)}).json()["batch_id"]
        detection = admin.post("/datasources/ds-a/detections", json=DETECT).json()["id"]
    return {"batch": batch, "detection": detection, "victim": _victim(live)}


def _victim(live) -> str:
    with live.client("admin") as admin:
        return str(
            admin.post("/admin/tokens", json={"name": "victim", "scopes": ["read"], "datasource": "ds-a"}).json()["id"]
        )


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
@pytest.mark.parametrize(
    "token", [None, "lps_not-a-real-token", "revoked", "expired"], ids=["none", "unknown", "revoked", "expired"]
)
def test_requests_without_a_live_token_get_401_problem(live, ids, endpoint, token):
    response = endpoint.request(live, token, ids)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["where"]["field"] == "Authorization"


@pytest.mark.parametrize(
    "endpoint",
    [e for e in ENDPOINTS if e.per_datasource],
    ids=[i for e, i in zip(ENDPOINTS, IDS, strict=True) if e.per_datasource],
)
def test_a_token_of_another_datasource_gets_403(live, ids, endpoint):
    response = endpoint.request(live, "other", ids)
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "endpoint",
    [e for e in ENDPOINTS if e.operation in ("write", "admin")],
    ids=[i for e, i in zip(ENDPOINTS, IDS, strict=True) if e.operation in ("write", "admin")],
)
def test_a_read_only_token_cannot_write_or_administer(live, ids, endpoint):
    response = endpoint.request(live, "read_a", ids)
    assert response.status_code == 403, response.text
    assert response.json()["status"] == 403


@pytest.mark.parametrize(
    "endpoint",
    [e for e in ENDPOINTS if e.operation in ("read", "admin")],
    ids=[i for e, i in zip(ENDPOINTS, IDS, strict=True) if e.operation in ("read", "admin")],
)
def test_a_write_only_token_cannot_read_or_administer(live, ids, endpoint):
    assert endpoint.request(live, "write_a", ids).status_code == 403


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_the_right_token_is_served(live, ids, endpoint):
    if endpoint.method == "DELETE":
        ids = {**ids, "victim": _victim(live)}
    response = endpoint.request(live, endpoint.positive, ids)
    assert response.status_code == endpoint.status, response.text
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("path", ["/health", "/ready"])
def test_health_and_readiness_need_no_token(live, path):
    with live.client() as client:
        response = client.get(path)
    assert response.status_code == 200, response.text


def test_listing_datasources_shows_only_those_the_token_may_access(live):
    with live.client("other") as client:
        listed = client.get("/datasources").json()["datasources"]
    assert [(d["name"], d["access"]) for d in listed] == [("ds-b", ["read", "write", "admin"])]
    with live.client("team_rw") as client:
        listed = {d["name"]: d["access"] for d in client.get("/datasources").json()["datasources"]}
    assert listed["ds-a"] == ["read", "write"] and "ds-b" not in listed


def test_a_team_token_reaches_a_datasource_shared_with_its_team_at_the_shared_level(live):
    from sqlalchemy import select

    from lupus_store.metadata import Datasource, DatasourcePermission, MetadataDB, Team

    db = MetadataDB(live.server.metadata_url)
    with db.session() as s:
        ds_b = s.scalar(select(Datasource).where(Datasource.name == "ds-b"))
        recsys = s.scalar(select(Team).where(Team.name == "recsys"))
        s.add(DatasourcePermission(datasource_id=ds_b.id, team_id=recsys.id, level="read"))
    db.dispose()
    with live.client("team_rw") as client:
        assert client.get("/datasources/ds-b/points").status_code == 200
        denied = client.post("/datasources/ds-b/points", json={"points": points(1)})
    assert denied.status_code == 403 and "not write" in denied.json()["detail"]


def test_a_token_revoked_through_the_api_stops_working_at_once(live):
    with live.client("admin") as admin:
        issued = admin.post(
            "/admin/tokens", json={"name": "short-lived", "scopes": ["read"], "datasource": "ds-a"}
        ).json()
        with live.client(issued["token"]) as client:
            assert client.get("/datasources/ds-a/points").status_code == 200
            assert admin.delete(f"/admin/tokens/{issued['id']}").json()["revoked_at"] is not None
            assert client.get("/datasources/ds-a/points").status_code == 401


def test_token_listing_never_shows_hashes_and_a_bound_admin_sees_only_its_binding(live):
    with live.client("admin") as admin:
        everything = admin.get("/admin/tokens").json()["tokens"]
    with live.client("other") as client:
        own = client.get("/admin/tokens").json()["tokens"]
    assert {t["name"] for t in everything} >= {"admin", "push job", "other ds"}
    assert {t["datasource"] for t in own} == {"ds-b"}
    assert all("hash" not in key and key != "token" for t in everything for key in t)


def test_revoking_another_teams_token_answers_exactly_as_revoking_an_unknown_id(live, ids):
    with live.client("other") as client:  # an admin token of ds-b; the victim is a ds-a token
        theirs = client.delete(f"/admin/tokens/{ids['victim']}")
        unknown = client.delete("/admin/tokens/999999")
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["detail"].replace(ids["victim"], "N") == unknown.json()["detail"].replace("999999", "N")
    assert theirs.json()["where"] == unknown.json()["where"] == {"field": "token_id"}
    with live.client("admin") as admin:  # and the other team's token was not revoked
        victim = next(t for t in admin.get("/admin/tokens").json()["tokens"] if str(t["id"]) == ids["victim"])
    assert victim["revoked_at"] is None
