"""`lupus incidents`, `lupus silence`, `lupus rules` and `lupus backtest`, run as real processes with their own LUPUS_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lupus_store import MetricStore
from lupus_store.incidents import Alert, Candidate, IncidentStore
from lupus_store.metadata import MetadataDB

LUPUS = [sys.executable, "-c", "from lupus_cli.main import app; app()"]
SPEC = """\
type: lupus_dagster.components.MonitoredProduct
attributes:
  product: shop
  team: growth
  datasource: shop
  partitions: {{start: "2026-01-01"}}
  source: {{parquet: "shop/date={{date}}/*.parquet"}}
  min_rows: 0
  detect:
    - metrics: ["rows.count"]
      detector: {detector}
"""


def lupus(home: Path, *args: str, products: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LUPUS_STORE", "LUPUS_METADATA_URL", "LUPUS_TEAMS_FILE")}
    env["LUPUS_HOME"] = str(home)
    if products is not None:
        env["LUPUS_PRODUCTS_DIR"] = str(products)
    return subprocess.run([*LUPUS, *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A LUPUS_HOME whose metadata DB holds one incident of product `shop`."""
    store = IncidentStore(MetadataDB(f"sqlite:///{tmp_path / 'metadata.db'}"))
    alert = Alert("anomaly", "ranking.recall", {"region": "JP"}, value=0.18, expected=0.63, score=-9.0,
                  link="http://ui/chart?datasource=shop")  # fmt: skip
    store.record([Candidate("shop", "shop", "s1", date(2026, 10, 30), "anomaly", "ranking.recall", 9.0, alert,
                            rule="detect[0]")])  # fmt: skip
    store.db.dispose()
    return tmp_path


def test_incidents_are_listed_shown_acknowledged_and_judged_per_rule(home: Path):
    listed = lupus(home, "incidents")
    assert listed.returncode == 0, listed.stderr
    assert "#1" in listed.stdout and "shop: ranking.recall for region=JP 0.18 vs 0.63 expected (−71 %)" in listed.stdout
    shown = lupus(home, "incidents", "show", "1")
    assert (
        "ranking.recall {region=JP}: value 0.18" in shown.stdout and "http://ui/chart?datasource=shop" in shown.stdout
    )

    bad = lupus(home, "incidents", "ack", "1", "--verdict", "meh")
    assert bad.returncode == 1 and "verdict: must be one of real, false_alarm, expected" in bad.stderr
    acked = lupus(home, "incidents", "ack", "1", "--verdict", "real", "--note", "JP feature broke", "--by", "alice")
    assert acked.returncode == 0 and "verdict real by alice" in acked.stdout
    as_json = json.loads(lupus(home, "incidents", "--json").stdout.splitlines()[0])
    assert (as_json["status"], as_json["verdict"], as_json["note"]) == ("acknowledged", "real", "JP feature broke")

    rules = lupus(home, "rules", "--product", "shop", products=home / "no-products")
    assert rules.returncode == 0, rules.stderr
    row = next(line for line in rules.stdout.splitlines() if line.startswith("shop"))
    assert row.split()[:7] == ["shop", "detect[0]", "1", "1", "1", "0", "0"] and "100 %" in row


def test_silences_are_added_listed_and_ended(home: Path):
    added = lupus(home, "silence", "add", "--datasource", "shop", "--metric", "ranking.*", "--label", "region=JP",
                  "--for", "2h", "--reason", "JP rollout", "--author", "bob")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "silence 1 until" in added.stdout and "shop/* ranking.* region=JP" in added.stdout
    assert "JP rollout" in lupus(home, "silence", "list").stdout
    assert lupus(home, "silence", "end", "1").returncode == 0
    assert lupus(home, "silence", "list").stdout.strip() == "no silences"
    assert "ended" in lupus(home, "silence", "list", "--all").stdout
    wrong = lupus(home, "silence", "add", "--datasource", "shop", "--for", "2x", "--reason", "r")
    assert wrong.returncode == 1 and "--for '2x' must be a number and a unit" in wrong.stderr


@pytest.fixture
def history(tmp_path: Path) -> tuple[Path, Path]:
    """60 days of `rows.count` for datasource `shop` (a drop on day 50) and a products folder with its spec."""
    rng = np.random.default_rng(0)
    store = MetricStore(tmp_path / "store")
    for n, day in enumerate(pd.date_range("2026-03-01", periods=60, tz="UTC")):
        value = (1000.0 if n != 50 else 300.0) + rng.normal(0, 10)
        store.write_points("shop", pd.DataFrame({"metric": ["rows.count"], "labels": [{}], "ts": [day],
                                                 "value": [value]}), day=day.date(), writer="m")  # fmt: skip
    products = tmp_path / "products"
    (products / "shop").mkdir(parents=True)
    (products / "shop" / "defs.yaml").write_text(SPEC.format(detector="{kind: threshold, min: 500}"))
    return tmp_path, products


def test_backtest_prints_the_incidents_the_rules_would_have_raised(history):
    home, products = history
    result = lupus(home, "backtest", "shop", "--days", "30", products=products)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "shop: 1 incident(s) from 1 alert(s) in 30 days (2026-03-31 .. 2026-04-29)"
    assert (
        "2026-04-20" in lines[1]
        and "resolved" in lines[1]
        and "shop: rows.count 304 vs 500 expected (−39 %)" in lines[1]
    )
    assert "  detect[0]: 1 alert(s) in 1 incident(s)" in lines


def test_backtest_replays_a_proposed_spec(history):
    home, products = history
    proposal = home / "proposal.yaml"
    proposal.write_text(SPEC.format(detector="{kind: threshold, min: 1200}"))  # every day is below: noisy
    result = lupus(home, "backtest", "shop", "--spec", str(proposal), "--days", "10", products=products)
    assert result.returncode == 0, result.stderr
    # One incident: the rule fires every day and each day continues the open incident.
    assert result.stdout.splitlines()[0] == "shop: 1 incident(s) from 10 alert(s) in 10 days (2026-04-20 .. 2026-04-29)"


def test_backtest_exits_non_zero_on_a_broken_spec(history):
    home, products = history
    broken = home / "broken.yaml"
    broken.write_text(SPEC.format(detector="{kind: thresold, min: 1}"))
    result = lupus(home, "backtest", "shop", "--spec", str(broken), products=products)
    assert result.returncode == 2
    assert f"{broken}: detect" in result.stderr and "kind" in result.stderr
    other = home / "other.yaml"
    other.write_text(SPEC.format(detector="{kind: threshold, min: 1}").replace("product: shop", "product: other"))
    mismatch = lupus(home, "backtest", "shop", "--spec", str(other), products=products)
    assert mismatch.returncode == 2 and "product: is 'other', not 'shop'" in mismatch.stderr
    unknown = lupus(home, "backtest", "nope", products=products)
    assert unknown.returncode == 2 and "no product 'nope'" in unknown.stderr
