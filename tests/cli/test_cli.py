"""The `lupus` command, run as a real process with its own LUPUS_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lupus_store import MetricStore

LUPUS = [sys.executable, "-c", "from lupus_cli.main import app; app()"]


def lupus(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LUPUS_HOME": str(home)}
    env.pop("LUPUS_STORE", None)
    env.pop("LUPUS_METADATA_URL", None)
    return subprocess.run([*LUPUS, *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_demo_writes_ninety_days_into_a_fresh_store_and_says_where(tmp_path):
    result = lupus(tmp_path, "demo")
    assert result.returncode == 0, result.stderr
    assert f"Metric store:     {tmp_path / 'store'}" in result.stdout
    store = MetricStore(tmp_path / "store")
    assert store.list_datasources() == ["demo-recommend"]
    assert len(store.days("demo-recommend")) == 90
    overall = store.read_points("demo-recommend", metrics="rows.count", labels={})
    assert len(overall) == 90 * 4  # the overall series and three regions
    assert (tmp_path / "metadata.db").exists()
    again = lupus(tmp_path, "demo")  # idempotent: writers replace their files
    assert again.returncode == 0
    assert len(store.read_points("demo-recommend")) == len(store.read_points("demo-recommend").drop_duplicates(["series_id", "ts"]))


def test_token_workflow_prints_the_token_once_and_revokes_it(tmp_path):
    created = lupus(tmp_path, "token", "create", "ci-job", "--scope", "admin")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().rsplit(" ", 1)[-1]
    assert token.startswith("lps_")
    listed = lupus(tmp_path, "token", "list")
    assert "ci-job" in listed.stdout and token not in listed.stdout
    assert lupus(tmp_path, "token", "revoke", "1").returncode == 0
    assert "revoked" in lupus(tmp_path, "token", "list").stdout
    missing = lupus(tmp_path, "token", "revoke", "99")
    assert missing.returncode == 1 and "no token with id 99" in missing.stderr
