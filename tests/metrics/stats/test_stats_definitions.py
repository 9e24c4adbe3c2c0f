"""Every stat of the pandas (DuckDB) engine against an independent pandas/numpy computation,
on data with nulls, a single-row group, an all-null group, unicode categories and arrays."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from metrics.stats import stats_reference as ref
from metrics.stats.stats_fixtures import COLUMNS, TS, profile_frame

from lupus_metrics.frames import normalize_points
from lupus_metrics.stats import ProfileSpec, compute_profile

SCALAR_CASES = [
    (c, s) for c, stats in COLUMNS.items() for s in stats if not s.startswith("topk") and s != "other_share"
]
SPEC = ProfileSpec(group_by=["region"], columns=COLUMNS)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return profile_frame()


@pytest.fixture(scope="module")
def profiled(frame: pd.DataFrame) -> pd.DataFrame:
    return compute_profile(frame, SPEC, ts=TS)


@pytest.fixture(scope="module")
def points(profiled: pd.DataFrame) -> dict[tuple[str, tuple], float]:
    return {(p.metric, tuple(sorted(p.labels.items()))): p.value for p in profiled.itertuples()}


@pytest.fixture(scope="module")
def supports(profiled: pd.DataFrame) -> dict[tuple[str, tuple], tuple[float, float]]:
    return {(p.metric, tuple(sorted(p.labels.items()))): (p.n, p.stderr) for p in profiled.itertuples()}


def assert_same(actual: float, expected: float, what: str) -> None:
    if math.isnan(expected):
        assert math.isnan(actual), f"{what}: expected null, got {actual}"
    else:
        assert actual == pytest.approx(expected, rel=1e-9, abs=1e-9), what


@pytest.mark.parametrize(("column", "stat"), SCALAR_CASES, ids=[f"{c}.{s}" for c, s in SCALAR_CASES])
def test_stat_matches_independent_computation_in_every_group(points, frame, column, stat):
    for labels, group in ref.groups(frame, ["region"]):
        expected = ref.stat(group[column], stat, ts=TS)
        assert_same(points[(f"{column}.{stat}", tuple(sorted(labels.items())))], expected, f"{column}.{stat} {labels}")


@pytest.mark.parametrize(("column", "stat"), SCALAR_CASES, ids=[f"{c}.{s}" for c, s in SCALAR_CASES])
def test_n_and_stderr_match_their_definitions_in_every_group(supports, frame, column, stat):
    for labels, group in ref.groups(frame, ["region"]):
        n, stderr = supports[(f"{column}.{stat}", tuple(sorted(labels.items())))]
        expected_n, expected_stderr = ref.support(group[column], stat, ts=TS)
        assert n == expected_n, f"{column}.{stat} n {labels}"
        assert_same(stderr, expected_stderr, f"{column}.{stat} stderr {labels}")


def test_rows_count_is_the_number_of_rows_of_each_group(points, supports, frame):
    for labels, group in ref.groups(frame, ["region"]):
        key = ("rows.count", tuple(sorted(labels.items())))
        assert points[key] == len(group)
        assert supports[key][0] == len(group) and math.isnan(supports[key][1])


@pytest.mark.parametrize(("column", "k", "elements"), [("category", 3, False), ("tags", 4, True)])
def test_topk_shares_are_rates_over_the_non_null_values_or_elements(supports, frame, column, k, elements):
    for labels, group in ref.groups(frame, ["region"]):
        top, other = ref.topk(group[column], k, elements=elements)
        total = sum(n for _, n, _ in top) / (1 - other) if top and other < 1 else None
        for rank, (value, count, share) in enumerate(top, start=1):
            key = tuple(sorted({**labels, "value": value, "rank": str(rank)}.items()))
            n, stderr = supports[(f"{column}.topk_share", key)]
            assert n == pytest.approx(count / share)
            assert stderr == pytest.approx(math.sqrt(share * (1 - share) / n), rel=1e-12)
            assert supports[(f"{column}.topk_count", key)][0] == n
        n, stderr = supports[(f"{column}.other_share", tuple(sorted(labels.items())))]
        if total is not None:
            assert n == pytest.approx(total)
            assert stderr == pytest.approx(math.sqrt(other * (1 - other) / n), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(("column", "k", "elements"), [("category", 3, False), ("tags", 4, True)])
def test_topk_ranks_values_by_count_then_value_with_counts_and_shares(points, frame, column, k, elements):
    for labels, group in ref.groups(frame, ["region"]):
        top, _ = ref.topk(group[column], k, elements=elements)
        got = sorted(
            (int(dict(key)["rank"]), dict(key)["value"], value)
            for (metric, key), value in points.items()
            if metric == f"{column}.topk_count" and {k_: v for k_, v in key if k_ not in ("rank", "value")} == labels
        )
        assert [(value, n) for _, value, n in got] == [(value, n) for value, n, _ in top], labels
        for rank, (value, _, share) in enumerate(top, start=1):
            key = tuple(sorted({**labels, "value": value, "rank": str(rank)}.items()))
            assert_same(points[(f"{column}.topk_share", key)], share, f"{column} share of {value!r} {labels}")


@pytest.mark.parametrize(("column", "k", "elements"), [("category", 3, False), ("tags", 4, True)])
def test_other_share_is_the_share_outside_the_topk(points, frame, column, k, elements):
    for labels, group in ref.groups(frame, ["region"]):
        _, other = ref.topk(group[column], k, elements=elements)
        assert_same(points[(f"{column}.other_share", tuple(sorted(labels.items())))], other, f"{column} {labels}")


def test_every_point_is_storable(frame):
    out = compute_profile(frame, SPEC, ts=TS)
    stored = normalize_points(out, "service1-recommend")
    assert len(stored) == len(out)
    assert (stored["ts"] == TS).all()


def test_overall_group_has_no_labels_and_null_group_value_is_labelled(points):
    regions = {dict(key).get("region") for metric, key in points if metric == "rows.count"}
    assert regions == {None, "JP", "US", "ÉU", ref.NULL, "solo", "void"}


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), st.just(math.nan), st.floats(-1e6, 1e6)), max_size=40),
    q=st.floats(0, 100),
)
def test_numeric_stats_match_numpy_on_any_values(values, q):
    df = pd.DataFrame({"x": pd.Series(values, dtype="float64")})
    stats = ["count", "mean", "std", "min", "max", f"p{q:.4f}"]
    out = compute_profile(df, {"columns": {"x": stats}}, ts=TS)
    got = dict(zip(out["metric"], out["value"], strict=True))
    for stat in stats:
        expected = ref.stat(df["x"], stat)
        if math.isnan(expected):
            assert math.isnan(got[f"x.{stat}"]), stat
        else:
            # Summation order differs between DuckDB and numpy: allow rounding, not more.
            assert got[f"x.{stat}"] == pytest.approx(expected, rel=1e-9, abs=1e-6), stat
