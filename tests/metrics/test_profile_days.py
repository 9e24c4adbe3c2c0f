"""compute_profile_days gives each partition exactly the points compute_profile gives it alone."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.stats import compute_profile
from lupus_metrics.stats.profile_days import compute_profile_days

SPEC = {
    "group_by": ["region"],
    "columns": {
        "x": ["mean", "std", "p50", "p95", "null_rate", "min", "max", "distinct_count"],
        "label": ["topk:2", "other_share", "null_rate"],
        "at": ["lag", "max"],
    },
}


def _range(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for n, day in enumerate(pd.date_range("2026-03-01", periods=6, freq="D")):
        rows = int(rng.integers(1, 400))
        x = rng.normal(10 + n, 3, rows)
        x[rng.random(rows) < 0.1] = np.nan
        parts.append(pd.DataFrame({
            "day": day.date().isoformat(),
            "region": rng.choice(["JP", "US", None], rows),
            "x": x,
            "label": rng.choice(["a", "b", "c", None], rows),
            "at": day + pd.to_timedelta(rng.integers(0, 86_400, rows), unit="s"),
        }))  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def _stamps(frame: pd.DataFrame) -> dict[str, pd.Timestamp]:
    return {day: pd.Timestamp(day, tz="UTC") + pd.Timedelta(days=1) for day in frame["day"].unique()}


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("spec", [SPEC, {**SPEC, "group_by": []}, {**SPEC, "filter": "x > 9 OR x IS NULL"}])
def test_each_partition_gets_exactly_the_points_of_its_own_profile(seed, spec):
    frame = _range(seed)
    stamps = _stamps(frame)
    got = compute_profile_days(pa.Table.from_pandas(frame, preserve_index=False), spec, partition="day", ts=stamps)
    assert sorted(got) == sorted(stamps)
    for day, stamp in stamps.items():
        alone = frame[frame["day"] == day].drop(columns=["day"]).reset_index(drop=True)
        expected = compute_profile(pa.Table.from_pandas(alone, preserve_index=False), spec, ts=stamp)
        # Same groups, metrics and labels; values equal up to the last bits of a sum (DuckDB adds up
        # a one-day run's overall group in another order than a group of a grouped query).
        pd.testing.assert_frame_equal(got[day], expected, check_exact=False, rtol=1e-12, atol=0)


def test_a_partition_without_rows_gets_the_points_of_an_empty_table():
    frame = _range(4)
    stamps = {**_stamps(frame), "2026-12-31": pd.Timestamp("2026-12-31", tz="UTC")}
    got = compute_profile_days(frame, SPEC, partition="day", ts=stamps)
    expected = compute_profile(frame.iloc[0:0].drop(columns=["day"]), SPEC, ts=stamps["2026-12-31"])
    pd.testing.assert_frame_equal(got["2026-12-31"], expected, check_exact=False, rtol=1e-12, atol=0)


def test_a_sampled_profile_is_refused():
    with pytest.raises(LupusValidationError, match="sample"):
        compute_profile_days(_range(1), {**SPEC, "sample": {"fraction": 0.5}}, partition="day", ts={})
