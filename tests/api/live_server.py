"""A real Lupus API server (``lupus serve api``, uvicorn) in a subprocess on 127.0.0.1, and a seeded metadata DB.

Shared by the API tests and ``benchmarks/api_bench.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from services.ports import free_port

from lupus_store.metadata import MetadataDB, Team
from lupus_store.metadata.models import Datasource
from lupus_store.metadata.tokens import issue_token, revoke_token

REPO = Path(__file__).resolve().parents[2]
LUPUS = Path(sys.executable).with_name("lupus")
#: Every server started in this process: a fixture stops those a failing test left running.
STARTED: list[ApiServer] = []


def seed(url: str) -> dict[str, str]:
    """Teams ``recsys`` (owns ``ds-a``) and ``search`` (owns ``ds-b``), and one token per role.

    Tokens: ``admin`` (installation-wide), ``team_admin`` (recsys, admin), ``team_rw`` (recsys, read+write),
    ``write_a``/``read_a`` (ds-a only), ``other`` (ds-b, every scope), ``revoked`` and ``expired``
    (ds-a, every scope).
    """
    db = MetadataDB(url)
    db.upgrade()
    with db.session() as session:
        recsys, search = Team(name="recsys"), Team(name="search")
        session.add_all([recsys, search])
        session.flush()
        session.add_all(
            [Datasource(name="ds-a", owner_team_id=recsys.id), Datasource(name="ds-b", owner_team_id=search.id)]
        )
    every = ["read", "write", "admin"]
    tokens = {
        "admin": issue_token(db, name="admin", scopes=["admin"]),
        "team_admin": issue_token(db, name="team admin", scopes=["admin"], team="recsys"),
        "team_rw": issue_token(db, name="team rw", scopes=["read", "write"], team="recsys"),
        "write_a": issue_token(db, name="push job", scopes=["write"], datasource="ds-a"),
        "read_a": issue_token(db, name="dashboard", scopes=["read"], datasource="ds-a"),
        "other": issue_token(db, name="other ds", scopes=every, datasource="ds-b"),
        "revoked": issue_token(db, name="revoked", scopes=every, datasource="ds-a"),
        "expired": issue_token(
            db, name="expired", scopes=every, datasource="ds-a", expires_at=datetime.now(UTC) - timedelta(minutes=1)
        ),
    }
    revoke_token(db, tokens["revoked"].id)
    db.dispose()
    return {name: issued.token for name, issued in tokens.items()}


@dataclass
class ApiServer:
    """``lupus serve api`` on a free port; ``kill()`` is ``kill -9``."""

    home: Path
    metadata_url: str
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    args: list[str] = field(default_factory=list)  # extra `lupus serve api` options, e.g. ["--workers", "2"]
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def store_root(self) -> Path:
        return self.home / "store"

    def start(self, timeout: float = 60.0) -> ApiServer:
        self.port = self.port or free_port()
        env = {
            **os.environ,
            "LUPUS_HOME": str(self.home),
            "LUPUS_METADATA_URL": self.metadata_url,
            "LUPUS_STORE": str(self.store_root),
            **self.env,
        }
        log = open(self.home / "server.log", "ab")  # noqa: SIM115 - the server writes it while running
        self.process = subprocess.Popen(
            [str(LUPUS), "serve", "api", "--port", str(self.port), "--log-level", "warning", *self.args],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if not any(server is self for server in STARTED):
            STARTED.append(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"API server exited with {self.process.returncode}: {self.log()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"API server did not answer within {timeout:.0f} s: {self.log()[-3000:]}")

    def log(self) -> str:
        path = self.home / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill(self) -> None:
        """``kill -9``: no shutdown handlers run."""
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
