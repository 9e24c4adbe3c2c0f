"""`lupus backfill`, run as a real process: ranged runs recorded in DAGSTER_HOME's instance, clear errors."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from lupus_dagster.demo.generate import forecaster_day

LUPUS = [sys.executable, "-c", "from lupus_cli.main import app; app()"]
START = date(2026, 2, 1)
PRODUCT = """
type: lupus_dagster.components.MonitoredProduct
attributes:
  product: shop
  team: supply
  datasource: shop
  partitions: {start: "2026-02-01", days_per_run: 3}
  source: {parquet: "forecasts/date={date}/*.parquet"}
  profile: {columns: {price: [mean, null_rate]}}
  min_rows: 1500
  detect: [{metrics: ["rows.count"], detector: {kind: threshold, min: 1500}}]
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    for n in range(5):
        day = START + timedelta(days=n)
        target = tmp_path / "data" / "forecasts" / f"date={day.isoformat()}" / "part.parquet"
        target.parent.mkdir(parents=True)
        forecaster_day(day, half_empty=n == 3, rng=rng).to_parquet(target)
    (tmp_path / "products" / "shop").mkdir(parents=True)
    (tmp_path / "products" / "shop" / "defs.yaml").write_text(PRODUCT)
    (tmp_path / "dagster").mkdir()
    (tmp_path / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return tmp_path


def lupus(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUPUS_", "DAGSTER_"))}
    env |= {
        "LUPUS_HOME": str(home),
        "LUPUS_PRODUCTS_DIR": str(home / "products"),
        "DAGSTER_HOME": str(home / "dagster"),
    }
    return subprocess.run([*LUPUS, *args], env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_backfill_runs_spans_of_days_and_reports_the_blocked_day(home):
    import dagster as dg

    done = lupus(home, "backfill", "shop", "--start", "2026-02-01", "--end", "2026-02-05")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "run 2026-02-01 .. 2026-02-03" in done.stdout and "run 2026-02-04 .. 2026-02-05" in done.stdout
    assert "2026-02-04: check ge_validation failed" in done.stdout  # the half-empty day
    assert "4 days ok, 1 failed or blocked" in done.stdout
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        runs = instance.get_runs()
        assert len(runs) == 2 and all(run.is_success for run in runs)
        materialized = instance.get_materialized_partitions(dg.AssetKey(["shop", "metrics"]))
    assert materialized == {(START + timedelta(days=n)).isoformat() for n in range(5)}


def test_backfill_names_an_unknown_product_and_a_bad_date(home):
    unknown = lupus(home, "backfill", "nope", "--start", "2026-02-01", "--end", "2026-02-02")
    assert unknown.returncode == 2 and "no valid product 'nope'" in unknown.stderr and "shop" in unknown.stderr
    bad = lupus(home, "backfill", "shop", "--start", "2026-02-31", "--end", "2026-03-02")
    assert bad.returncode == 2 and "--start must be a date YYYY-MM-DD, got '2026-02-31'" in bad.stderr
