"""Test data for the profile tests (a module with a unique name, importable from every test file): nulls of every flavour, unicode categories, a single-row
group, a group whose numeric column is all null, arrays with empty and null entries."""

from __future__ import annotations

import numpy as np
import pandas as pd

TS = pd.Timestamp("2026-01-10T06:00:00Z")
VOCABULARY = ["猫", "犬", "é", "", "a", "b", "Zürich"]
#: Every stat, on every column kind of :func:`profile_frame`.
COLUMNS = {
    "score": ["count", "null_count", "null_rate", "mean", "std", "min", "max", "sum", "zero_rate",
              "p0", "p05", "p50", "p95", "p99.5", "p100", "distinct_count"],
    "visits": ["count", "null_rate", "mean", "std", "min", "max", "sum", "zero_rate", "p25", "distinct_count"],
    "category": ["count", "null_count", "null_rate", "distinct_count", "empty_rate",
                 "length_mean", "length_std", "length_min", "length_max", "length_p50", "topk:3", "other_share"],
    "flag": ["count", "null_rate", "true_rate", "distinct_count"],
    "seen": ["count", "null_rate", "min", "max", "lag", "distinct_count"],
    "tags": ["count", "null_rate", "empty_rate", "length_mean", "length_max", "length_p90", "topk:4", "other_share"],
}  # fmt: skip


def profile_frame(n: int = 300, seed: int = 7) -> pd.DataFrame:
    """``n`` rows + one single-row group (``solo``) + a group (``void``) whose ``score`` is all null."""
    rng = np.random.default_rng(seed)
    region = rng.choice(np.array(["JP", "US", "ÉU", None], dtype=object), n)
    score = np.round(rng.normal(1.0, 2.0, n), 1)  # rounding makes ties and exact zeros
    score[rng.random(n) < 0.1] = np.nan
    visits = pd.array(rng.integers(0, 6, n), dtype="Int64")
    visits[rng.random(n) < 0.1] = pd.NA
    category = rng.choice(np.array([*VOCABULARY, None], dtype=object), n)
    flag = pd.array(rng.random(n) < 0.3, dtype="boolean")
    flag[rng.random(n) < 0.2] = pd.NA
    seen = pd.Series(pd.Timestamp("2026-01-09", tz="UTC") - pd.to_timedelta(rng.integers(0, 86400 * 5, n), unit="s"))
    seen[rng.random(n) < 0.1] = pd.NaT
    tags = [None if rng.random() < 0.05 else list(rng.choice(VOCABULARY, rng.integers(0, 5))) for _ in range(n)]
    frame = pd.DataFrame(
        {
            "region": region,
            "score": score,
            "visits": visits,
            "category": category,
            "flag": flag,
            "seen": seen,
            "tags": tags,
        }
    )
    extra = pd.DataFrame(
        {
            "region": ["solo", "void", "void"],
            "score": [3.5, np.nan, np.nan],
            "visits": pd.array([1, pd.NA, 2], dtype="Int64"),
            "category": ["猫", None, "犬"],
            "flag": pd.array([True, pd.NA, False], dtype="boolean"),
            "seen": pd.to_datetime(["2026-01-08T12:00:00Z", None, "2026-01-07T00:00:00Z"], utc=True),
            "tags": [["猫"], [], None],
        }
    )
    return pd.concat([frame, extra], ignore_index=True)
