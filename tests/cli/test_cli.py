"""The `lupus` command, run as a real process with its own LUPUS_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LUPUS = [sys.executable, "-c", "from lupus_cli.main import app; app()"]


def lupus(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LUPUS_HOME": str(home)}
    env.pop("LUPUS_STORE", None)
    env.pop("LUPUS_METADATA_URL", None)
    return subprocess.run([*LUPUS, *args], env=env, capture_output=True, text=True, timeout=300)


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


import pytest  # noqa: E402


@pytest.mark.parametrize("args", [
    ("team", "add", "recsys\n"),
    ("user", "add", "alice\x1b[31m", "--password-stdin"),
    ("token", "create", "job\u202e", "--scope", "admin"),
    ("token", "create", "job", "--scope", "write", "--datasource", "dsa\n"),
    ("grant", "ds-a", "team\u2028x"),
    ("store", "compact", "ds\n"),
])  # fmt: skip
def test_names_breaking_the_name_rule_are_usage_errors_and_nothing_is_created(tmp_path, args):
    done = lupus(tmp_path, *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Invalid value" in done.stderr and "got " in done.stderr
    assert not (tmp_path / "metadata.db").exists() and not (tmp_path / "store").exists()
