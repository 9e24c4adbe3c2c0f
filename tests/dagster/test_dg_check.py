"""`dg check defs` on the real project: passes for the demo products, fails naming file and field for a broken one."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
REPO = Path(__file__).resolve().parents[2]
DG = [str(Path(sys.executable).with_name("dg")), "check", "defs", "--use-active-venv"]


def dg_check(env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIRTUAL_ENV": str(Path(sys.executable).parents[1]), **env_extra}
    return subprocess.run(DG, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


def test_dg_check_defs_passes_on_the_demo_products():
    result = dg_check({})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_dg_check_defs_fails_naming_the_file_and_field(tmp_path):
    broken = tmp_path / "shop" / "defs.yaml"
    broken.parent.mkdir()
    broken.write_text(yaml.safe_dump({"type": "lupus_dagster.components.MonitoredProduct", "attributes": {
        "product": "shop", "team": "growth", "datasource": "shop", "partitions": {"start": "2026-01-01", "cron": "soon"},
        "source": {"parquet": "shop/{date}.parquet"}}}))  # fmt: skip
    result = dg_check({"LUPUS_PRODUCTS_DIR": str(tmp_path)})
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"{broken}: partitions.cron" in output and "not a valid cron expression" in output
