import numpy as np
import pandas as pd
import pytest
from metrics.detectors.synthetic_series import daily
from pydantic import ValidationError

from lupus_metrics.detectors import ThresholdDetector
from lupus_metrics.detectors.base import RESULT_COLUMNS


def test_values_above_max_and_below_min_are_anomalies():
    out = ThresholdDetector(min=1.0, max=5.0).detect(daily([0.5, 3.0, 7.0]))
    assert out["is_anomaly"].tolist() == [True, False, True]


def test_result_is_indexed_like_the_input_with_the_common_columns():
    s = daily([1.0, 2.0])
    out = ThresholdDetector(max=5.0).detect(s)
    assert out.index.equals(s.index)
    assert tuple(out.columns) == RESULT_COLUMNS


def test_a_value_on_an_inclusive_bound_is_allowed():
    out = ThresholdDetector(min=1.0, max=5.0).detect(daily([1.0, 5.0]))
    assert not out["is_anomaly"].any()


def test_a_value_on_an_exclusive_bound_is_an_anomaly():
    out = ThresholdDetector(min=1.0, max=5.0, min_inclusive=False, max_inclusive=False).detect(daily([1.0, 5.0]))
    assert out["is_anomaly"].all()


def test_expected_is_the_value_clipped_into_the_bounds():
    out = ThresholdDetector(min=1.0, max=5.0).detect(daily([0.0, 3.0, 9.0]))
    assert out["expected"].tolist() == [1.0, 3.0, 5.0]


def test_score_is_the_signed_distance_outside_the_bounds():
    out = ThresholdDetector(min=1.0, max=5.0).detect(daily([0.0, 3.0, 9.0]))
    assert out["score"].tolist() == [-1.0, 0.0, 4.0]


def test_a_missing_bound_leaves_that_side_of_the_band_empty():
    out = ThresholdDetector(max=5.0).detect(daily([-1e9]))
    assert np.isnan(out["lower"].iloc[0]) and out["upper"].iloc[0] == 5.0
    assert not out["is_anomaly"].iloc[0]


def test_a_missing_value_is_not_judged():
    out = ThresholdDetector(max=5.0).detect(daily([np.nan, 9.0]))
    assert out["is_anomaly"].tolist() == [False, True]
    assert np.isnan(out["score"].iloc[0])


def test_a_single_point_is_judged():
    assert ThresholdDetector(max=5.0).detect(pd.Series([6.0]))["is_anomaly"].tolist() == [True]


def test_a_detector_needs_at_least_one_bound():
    with pytest.raises(ValidationError, match="min/max"):
        ThresholdDetector()


def test_min_above_max_is_rejected_naming_both():
    with pytest.raises(ValidationError, match=r"min \(3.0\) must not exceed max \(1.0\)"):
        ThresholdDetector(min=3, max=1)


def test_an_unknown_parameter_is_rejected_by_name():
    with pytest.raises(ValidationError, match="maximum"):
        ThresholdDetector(maximum=3)


def test_a_constant_series_inside_the_bounds_has_no_anomalies():
    assert not ThresholdDetector(min=0.0, max=10.0).detect(daily(np.full(30, 5.0)))["is_anomaly"].any()
