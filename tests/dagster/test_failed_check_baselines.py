"""A day whose blocking check failed stays out of the detectors' baselines on later days (issue 14)."""

from datetime import date, timedelta

import dagster as dg
import numpy as np
import pytest

from lupus_dagster.assets.product_assets import build_product_assets
from lupus_dagster.demo.generate import forecaster_day
from lupus_dagster.product_spec import ProductSpec
from lupus_dagster.resources.store import MetricStoreResource
from lupus_store import MetricStore

pytestmark = pytest.mark.slow
START = date(2026, 3, 1)
HALF_EMPTY = 3


@pytest.fixture
def product(tmp_path, monkeypatch):
    monkeypatch.setenv("LUPUS_DATA_ROOT", str(tmp_path / "data"))
    rng = np.random.default_rng(3)
    for n in range(6):
        day = START + timedelta(days=n)
        frame = forecaster_day(day, half_empty=n == HALF_EMPTY, rng=rng)
        target = tmp_path / "data" / "forecasts" / f"date={day.isoformat()}" / "part.parquet"
        target.parent.mkdir(parents=True)
        frame.to_parquet(target)
    spec = ProductSpec.model_validate({
        "product": "forecast", "team": "supply", "datasource": "forecast",
        "partitions": {"start": START.isoformat()}, "source": {"parquet": "forecasts/date={date}/*.parquet"},
        "profile": {"columns": {"demand": ["p50"]}}, "min_rows": 1500, "lookback_days": 10,
        # min_delta keeps the half-empty day from being flagged: only its failed check can keep it out.
        "detect": [{"metrics": ["rows.count"],
                    "detector": {"kind": "window", "window": 3, "min_history": 2, "method": "zscore",
                                 "min_delta": 5000}}],
    })  # fmt: skip
    return spec, MetricStore(tmp_path / "store")


def test_a_failed_days_points_are_left_out_of_later_baselines(product):
    spec, store = product
    instance = dg.DagsterInstance.ephemeral()
    for n in range(6):
        dg.materialize(
            build_product_assets(spec), partition_key=(START + timedelta(days=n)).isoformat(), instance=instance,
            raise_on_error=False, resources={"store": MetricStoreResource(root=store.root)},
        )  # fmt: skip
    points = store.read_points("forecast", metrics="rows.count").set_index("ts")["value"]
    assert points.iloc[HALF_EMPTY] == 1000  # stored: the metrics asset ran, its check failed
    verdicts = store.read_anomalies("forecast", only_anomalies=False).set_index("ts").sort_index()
    assert START + timedelta(days=HALF_EMPTY) not in set(verdicts.index.date)  # blocked
    assert not verdicts["is_anomaly"].any()
    day_after = verdicts.loc[verdicts.index.date == START + timedelta(days=HALF_EMPTY + 1)].iloc[0]
    # Without the exclusion the 3-day baseline would be (2000 + 2000 + 1000) / 3.
    assert day_after["expected"] == 2000.0 and not day_after["is_anomaly"]
