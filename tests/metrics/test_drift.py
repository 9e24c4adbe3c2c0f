"""drift_score / drift_points: agree with scipy where scipy defines the quantity; degenerate cases are defined."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import jensenshannon

from lupus_metrics.drift import drift_points, drift_score
from lupus_metrics.errors import LupusValidationError
from lupus_metrics.frames import normalize_points

TS = "2026-01-01"


def samples(seed: int, n_ref: int, n_cur: int, decimals: int | None) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ref, cur = rng.normal(0, 1, n_ref), rng.normal(0.3, 1.5, n_cur)
    if decimals is not None:  # rounding makes ties
        ref, cur = np.round(ref, decimals), np.round(cur, decimals)
    return ref, cur


def quantile_shares(ref: np.ndarray, cur: np.ndarray, bins: int) -> tuple[pd.Series, pd.Series]:
    """Independent binning with pandas: right-closed bins on the reference quantiles, open outer bins."""
    inner = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1))[1:-1])
    edges = np.concatenate([[-np.inf], inner, [np.inf]])

    def count(x: np.ndarray) -> pd.Series:
        return pd.Series(pd.cut(x, edges, right=True)).value_counts(sort=False).reset_index(drop=True)

    return count(ref), count(cur)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_ref=st.integers(1, 300),
    n_cur=st.integers(1, 300),
    decimals=st.sampled_from([None, 0, 1]),
)
def test_ks_and_wasserstein_agree_with_scipy(seed: int, n_ref: int, n_cur: int, decimals: int | None) -> None:
    ref, cur = samples(seed, n_ref, n_cur, decimals)
    ks = drift_score(ref, cur, "ks")
    expected = stats.ks_2samp(ref, cur)
    assert ks.value == pytest.approx(expected.statistic, abs=1e-12)
    assert ks.pvalue == pytest.approx(expected.pvalue, abs=1e-12)
    assert drift_score(ref, cur, "wasserstein").value == pytest.approx(
        stats.wasserstein_distance(ref, cur), rel=1e-9, abs=1e-12
    )


def test_ks_p_value_of_large_samples_agrees_with_scipy() -> None:
    ref, cur = samples(1, 20_000, 15_000, 2)
    expected = stats.ks_2samp(ref, cur)
    ks = drift_score(ref, cur, "ks")
    assert (ks.value, ks.pvalue) == pytest.approx((expected.statistic, expected.pvalue), abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 300), bins=st.integers(2, 20))
def test_psi_js_and_chi2_use_reference_quantile_bins(seed: int, n: int, bins: int) -> None:
    ref, cur = samples(seed, n, n + 7, 1)
    ref_counts, cur_counts = quantile_shares(ref, cur, bins)
    p, q = ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()
    p_eps, q_eps = p.clip(lower=1e-4), q.clip(lower=1e-4)
    assert drift_score(ref, cur, "psi", bins=bins).value == pytest.approx(
        ((q_eps - p_eps) * np.log(q_eps / p_eps)).sum(), abs=1e-12
    )
    assert drift_score(ref, cur, "js", bins=bins).value == pytest.approx(jensenshannon(p, q, base=2), abs=1e-12)
    table = np.vstack([ref_counts, cur_counts])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] > 1:
        expected = stats.chi2_contingency(table, correction=False)
        chi2 = drift_score(ref, cur, "chi2", bins=bins)
        assert (chi2.value, chi2.pvalue) == pytest.approx((expected.statistic, expected.pvalue), abs=1e-9)


def test_wasserstein_norm_divides_by_the_reference_standard_deviation() -> None:
    ref, cur = samples(2, 100, 80, None)
    expected = stats.wasserstein_distance(ref, cur) / np.std(ref)
    assert drift_score(ref, cur, "wasserstein_norm").value == pytest.approx(expected, rel=1e-12)


def test_categories_new_to_the_reference_are_reported_apart_not_hidden_in_epsilon() -> None:
    ref = pd.Series(["a"] * 50 + ["b"] * 50)
    cur = pd.Series(["a"] * 30 + ["b"] * 60 + ["new"] * 10)
    psi = drift_score(ref, cur, "psi")
    p, q = np.array([0.5, 0.5]), np.array([30 / 90, 60 / 90])
    assert psi.new_category_share == pytest.approx(0.1)
    assert psi.value == pytest.approx(np.sum((q - p) * np.log(q / p)), abs=1e-12)


def test_categorical_chi2_agrees_with_scipy_contingency() -> None:
    rng = np.random.default_rng(3)
    ref, cur = rng.choice(list("abcd"), 400), rng.choice(list("abcd"), 300, p=[0.4, 0.3, 0.2, 0.1])
    table = pd.crosstab(np.r_[np.zeros(400), np.ones(300)], np.r_[ref, cur]).to_numpy()
    expected = stats.chi2_contingency(table, correction=False)
    chi2 = drift_score(ref, cur, "chi2")
    assert (chi2.value, chi2.pvalue) == pytest.approx((expected.statistic, expected.pvalue), abs=1e-12)


def test_identical_constant_series_have_zero_drift() -> None:
    ref = cur = np.full(20, 3.0)
    for method in ("psi", "js", "ks", "wasserstein"):
        assert drift_score(ref, cur, method).value == 0.0
    chi2 = drift_score(ref, cur, "chi2")
    assert (chi2.value, chi2.pvalue) == (0.0, 1.0)


def test_wasserstein_norm_of_a_constant_reference_is_an_error() -> None:
    with pytest.raises(LupusValidationError, match="constant reference"):
        drift_score(np.full(5, 1.0), np.arange(5.0), "wasserstein_norm")


def test_every_current_category_new_is_an_error_for_psi() -> None:
    with pytest.raises(LupusValidationError, match="new_category_share"):
        drift_score(["a", "b"], ["c", "d"], "psi")


def test_numeric_only_methods_reject_categories() -> None:
    with pytest.raises(LupusValidationError) as err:
        drift_score(["a", "b"], ["a"], "ks")
    assert err.value.where == "method"


@pytest.mark.parametrize(("reference", "current", "where"), [([], [1.0], "reference"), ([1.0], [np.nan], "current")])
def test_empty_side_is_rejected(reference: list, current: list, where: str) -> None:
    with pytest.raises(LupusValidationError) as err:
        drift_score(reference, current, "psi")
    assert err.value.where == where


def test_unknown_method_is_rejected() -> None:
    with pytest.raises(LupusValidationError, match="must be among"):
        drift_score([1.0], [1.0], "kl")


def test_drift_points_compare_each_column_and_skip_numeric_only_methods_for_categories() -> None:
    rng = np.random.default_rng(4)
    ref = pd.DataFrame({"score": rng.normal(size=200), "segment": rng.choice(["x", "y"], 200)})
    cur = pd.DataFrame({"score": rng.normal(1, 1, 150), "segment": rng.choice(["x", "y", "z"], 150)})
    points = drift_points(ref, cur, methods=["psi", "ks"], ts=TS)
    by_column = points.groupby(points["labels"].map(lambda d: d["column"]))["metric"].apply(set).to_dict()
    assert by_column == {
        "score": {"drift.psi", "drift.ks", "drift.ks_pvalue"},
        "segment": {"drift.psi", "drift.new_category_share"},
    }
    ks = points[(points["metric"] == "drift.ks") & (points["labels"] == {"column": "score"})]["value"].item()
    assert ks == pytest.approx(stats.ks_2samp(ref["score"], cur["score"]).statistic, abs=1e-12)
    assert len(normalize_points(points, "ds")) == len(points)


def test_drift_points_per_group_compare_the_same_group_on_both_sides() -> None:
    ref = pd.DataFrame({"region": ["JP"] * 4 + ["US"] * 4, "v": [1.0, 2, 3, 4, 10, 20, 30, 40]})
    cur = pd.DataFrame({"region": ["JP"] * 4 + ["US"] * 4 + ["EU"], "v": [2.0, 3, 4, 5, 10, 20, 30, 40, 0]})
    points = drift_points(ref, cur, methods=["wasserstein"], group_by="region", ts=TS)
    values = {tuple(sorted(d.items())): v for d, v in zip(points["labels"], points["value"], strict=True)}
    assert values[(("column", "v"), ("region", "JP"))] == pytest.approx(1.0)
    assert values[(("column", "v"), ("region", "US"))] == 0.0
    assert not any(dict(k).get("region") == "EU" for k in values)


def test_drift_points_leave_out_undefined_scores_instead_of_nan() -> None:
    ref = pd.DataFrame({"flag_count": np.zeros(10)})
    cur = pd.DataFrame({"flag_count": np.arange(10.0)})
    points = drift_points(ref, cur, methods=["wasserstein", "wasserstein_norm"], ts=TS)
    assert set(points["metric"]) == {"drift.wasserstein"}
    assert not points["value"].isna().any()


def test_drift_points_without_pvalues_keep_the_statistics_only() -> None:
    ref = pd.DataFrame({"v": np.arange(50.0)})
    cur = pd.DataFrame({"v": np.arange(50.0) + 5})
    points = drift_points(ref, cur, methods=["ks", "chi2"], pvalues=False, ts=TS)
    assert set(points["metric"]) == {"drift.ks", "drift.chi2"}
    assert points.set_index("metric").loc["drift.ks", "value"] == pytest.approx(
        stats.ks_2samp(ref["v"], cur["v"]).statistic
    )


def test_drift_points_have_the_current_values_compared_as_n_and_no_stderr() -> None:
    ref = pd.DataFrame({"score": [0.1, 0.2, None, 0.4, 0.5], "segment": ["a", "b", "a", None, "c"]})
    cur = pd.DataFrame({"score": [0.3, None, 0.5, 0.6], "segment": ["a", "d", "d", "b"]})
    points = drift_points(ref, cur, methods=["psi", "ks"], ts=TS)
    score = points[points["labels"] == {"column": "score"}]
    assert (score["n"] == 3).all() and score["stderr"].isna().all()
    segment = points[points["labels"] == {"column": "segment"}].set_index("metric")
    assert (segment["n"] == 4).all()
    assert segment.loc["drift.psi", "stderr"] != segment.loc["drift.psi", "stderr"]  # NaN
    assert segment.loc["drift.new_category_share", "value"] == 0.5
    assert segment.loc["drift.new_category_share", "stderr"] == pytest.approx(np.sqrt(0.25 / 4), rel=1e-12)
