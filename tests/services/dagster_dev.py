"""`dagster dev` on the real workspace, started and stopped by a test, and its GraphQL endpoint."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path

from lupus_cli.serve import start_dagster_dev, stop, wait_for_http
from services.ports import free_port


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    """POST a GraphQL document; the ``data`` of the answer (GraphQL errors fail the caller)."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        payload = json.load(response)
    assert "errors" not in payload, payload
    return payload["data"]


class DagsterDev:
    """``dagster dev`` (webserver, daemon, code server) for ``home``, on a free port; a context manager."""

    def __init__(self, home: Path, *, workspace: Path | None = None, port: int | None = None, timeout: float = 600):
        self.home, self.workspace, self.timeout = home, workspace, timeout
        self.port, self.process = port or free_port(), None

    def __enter__(self) -> DagsterDev:
        self.process = start_dagster_dev(self.home, port=self.port, workspace=self.workspace)
        try:
            wait_for_http(f"http://127.0.0.1:{self.port}/server_info", timeout=self.timeout)
        except BaseException:
            stop(self.process)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        stop(self.process)
        assert group_gone(self.process.pid), "dagster dev left processes behind"

    def query(self, document: str, variables: dict | None = None) -> dict:
        return graphql(self.port, document, variables)


def group_gone(group: int, timeout: float = 120.0) -> bool:
    """Whether every process of the group has exited (within ``timeout`` seconds: on a loaded 2-core machine
    Dagster's daemon and code servers took over 30 s to shut down)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.5)
    return False
