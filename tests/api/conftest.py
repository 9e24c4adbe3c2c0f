"""Fixtures of the API tests: a seeded metadata DB (SQLite, then PostgreSQL) and a live server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.live_server import STARTED, ApiServer, seed


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def module_metadata_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Like ``metadata_url`` but shared by the API tests (one server per backend)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('meta') / 'metadata.db'}"
    return request.getfixturevalue("postgres_server").create_database()


@pytest.fixture(autouse=True)
def _stop_servers_a_test_left_running() -> Iterator[None]:
    """A test that fails between starting a server and stopping it must not leave the process behind."""
    before = list(STARTED)
    yield
    for server in [s for s in STARTED if not any(s is b for b in before)]:
        server.stop()
        STARTED.remove(server)


@pytest.fixture(scope="session")
def live(module_metadata_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    """A running API server with the seeded tokens, shared by the API tests (each uses its own metrics)."""
    tokens = seed(module_metadata_url)
    server = ApiServer(tmp_path_factory.mktemp("home"), module_metadata_url).start()
    yield LiveApi(server, tokens)
    server.stop()


class LiveApi:
    """The server plus helpers: ``client(token_name)`` is an httpx client with that token."""

    def __init__(self, server: ApiServer, tokens: dict[str, str]):
        self.server = server
        self.tokens = tokens

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens.get(token, token)}"} if token else {}
        return httpx.Client(base_url=f"{self.url}/api/v1", headers=headers, timeout=30)

    def wait_ingested(self, ds: str, batch_id: str, token: str = "admin", timeout: float = 30) -> dict:
        with self.client(token) as client:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                body = client.get(f"/datasources/{ds}/batches/{batch_id}").json()
                if body["status"] == "ingested":
                    return body
                time.sleep(0.05)
        raise AssertionError(f"batch {batch_id} not ingested within {timeout} s: {body}")


def points(
    n: int, *, metric: str = "rows.count", day: str = "2026-01-01", labels: dict | None = None, start: float = 0.0
) -> list[dict]:
    """``n`` points of one series, one per minute from ``day``, values ``start, start+1, ...``."""
    base = time.mktime(time.strptime(day, "%Y-%m-%d")) - time.timezone
    return [{"metric": metric, "labels": labels or {}, "ts": _iso(base + 60 * i), "value": start + i} for i in range(n)]


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


__all__ = ["LiveApi", "Path", "points"]
