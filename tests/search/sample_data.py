"""One small but awkward data set written to both stores by the parity, fault and rebuild tests."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

DATASOURCE = "shop-recommend"
SIBLING = "shop-search"  # same family: shares indices with DATASOURCE, must never leak into its reads
OTHER = "ads"

LABEL_SETS = [
    {"region": "JP"},
    {"region": "US"},
    {"region": "JP", "k": "10"},
    {"model.version": "v2", "region": "JP"},  # a dotted key
    {"segment": "東京 / ü"},  # unicode value with a slash
    {},
]
FIRST_DAY = date(2025, 12, 28)  # the days cross a year: documents land in two yearly indices
DAYS = 8


def points_of_day(day: date, *, scale: float = 1.0) -> pd.DataFrame:
    """Two metrics for every label set, one point per day, with a missing value on some days."""
    rows = []
    for m, metric in enumerate(("rows.count", "score.p95")):
        for i, labels in enumerate(LABEL_SETS):
            value = np.nan if (day.day + i + m) % 5 == 0 else scale * (100 * m + 10 * i + day.day)
            # Microseconds matter: Parquet keeps them and so must the index.
            ts = pd.Timestamp(day, tz="UTC") + pd.Timedelta(hours=6, microseconds=i)
            # Support and standard error on some rows only: unknown ones must read back as NaN from both stores.
            n = np.nan if i % 3 == 0 else 1000.0 + day.day
            stderr = np.nan if i % 2 == 0 else 0.01 * (i + 1)
            rows.append({"metric": metric, "labels": labels, "ts": ts, "value": value, "n": n, "stderr": stderr})
    return pd.DataFrame(rows)


def anomalies_of_day(day: date) -> pd.DataFrame:
    points = points_of_day(day)
    points["expected"] = points["value"].fillna(0) + 1.5
    points["lower"] = points["expected"] - 10
    points["upper"] = points["expected"] + 10
    points["score"] = np.where(points.index % 3 == 0, 4.2, 0.3)
    points["is_anomaly"] = points.index % 3 == 0
    points["detector"] = "window"
    points["params"] = [{"window": 14, "method": "mad"}] * len(points)
    return points


def days() -> list[date]:
    return [FIRST_DAY + timedelta(days=i) for i in range(DAYS)]


def write_sample(store) -> None:
    """Write the data set through ``store`` (a MetricStore or an IndexedMetricStore)."""
    for day in days():
        store.write_points(
            DATASOURCE, points_of_day(day), day=day, writer="metrics", source="asset", run_id=f"run-{day}"
        )
        store.write_anomalies(DATASOURCE, anomalies_of_day(day), day=day, writer="detect", run_id="detect-1")
    # A second writer of the same series and ts: both rows are kept by the store.
    store.write_points(DATASOURCE, points_of_day(FIRST_DAY, scale=2.0), day=FIRST_DAY, writer="push-1", source="push")
    # A writer rewrites a day with fewer rows: its old rows of that day must disappear.
    rewrite = points_of_day(days()[3])
    store.write_points(DATASOURCE, rewrite[rewrite["metric"] == "rows.count"], day=days()[3], writer="metrics")
    store.write_points(SIBLING, points_of_day(FIRST_DAY), day=FIRST_DAY, writer="metrics")
    store.write_points(OTHER, points_of_day(FIRST_DAY), day=FIRST_DAY, writer="metrics")
