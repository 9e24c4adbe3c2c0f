import pytest
import yaml

from lupus_metrics.detectors import (
    DETECTORS,
    ChangePointDetector,
    DetectorRule,
    ProphetDetector,
    SeasonalHybridESD,
    ThresholdDetector,
    WindowDetector,
    detector_config,
    detector_from_config,
    rules_from_config,
)
from lupus_metrics.errors import LupusValidationError


def test_a_yaml_config_builds_the_detector():
    config = yaml.safe_load("{kind: window, window: 14, method: mad, threshold: 4}")
    assert detector_from_config(config) == WindowDetector(window=14, method="mad", threshold=4)


def test_every_built_in_detector_is_registered_by_kind():
    assert DETECTORS["threshold"] is ThresholdDetector
    assert DETECTORS["window"] is WindowDetector
    assert DETECTORS["prophet"] is ProphetDetector
    assert DETECTORS["change_point"] is ChangePointDetector
    assert DETECTORS["seasonal_esd"] is SeasonalHybridESD


@pytest.mark.parametrize("kind", sorted(DETECTORS))
def test_a_detector_config_rebuilds_the_same_detector(kind):
    defaults = {"threshold": {"max": 1.0}}.get(kind, {})
    detector = detector_from_config({"kind": kind, **defaults})
    assert detector_from_config(detector_config(detector)) == detector


def test_an_unknown_kind_is_rejected_listing_the_known_ones():
    with pytest.raises(LupusValidationError, match=r"detector\.kind: must be one of .*window"):
        detector_from_config({"kind": "magic"})


def test_a_bad_parameter_is_named_in_the_error():
    with pytest.raises(LupusValidationError, match=r"detector\.threshold: Input should be greater than 0"):
        detector_from_config({"kind": "window", "threshold": -1})


def test_a_misspelt_parameter_is_named_in_the_error():
    with pytest.raises(LupusValidationError, match=r"detector\.windw"):
        detector_from_config({"kind": "window", "windw": 3})


def test_a_rule_matches_metric_globs():
    rule = DetectorRule.model_validate({"metrics": ["ranking.*", "rows.count"], "detector": {"kind": "window"}})
    assert rule.matches("ranking.ndcg", {})
    assert rule.matches("rows.count", {"region": "JP"})
    assert not rule.matches("age.mean", {})


def test_a_rule_label_filter_needs_every_label_to_match_its_glob():
    rule = DetectorRule.model_validate(
        {"metrics": ["*"], "labels": {"region": "J*", "k": "10"}, "detector": {"kind": "window"}}
    )
    assert rule.matches("ranking.ndcg", {"region": "JP", "k": "10"})
    assert not rule.matches("ranking.ndcg", {"region": "US", "k": "10"})
    assert not rule.matches("ranking.ndcg", {"region": "JP"})


def test_rules_from_a_product_spec_detect_list():
    spec = yaml.safe_load(
        """
        detect:
          - {metrics: ["rows.count", "*.null_rate"], detector: {kind: window, window: 14, method: mad, threshold: 4}}
          - {metrics: ["score.mean"], labels: {region: JP}, detector: {kind: prophet, mode: next_step}}
        """
    )
    rules = rules_from_config(spec["detect"])
    assert [rule.detector.kind for rule in rules] == ["window", "prophet"]
    assert rules[1].labels == {"region": "JP"}


def test_a_bad_rule_is_named_by_position_and_field():
    with pytest.raises(LupusValidationError, match=r"detect\[1\]\.metrics"):
        rules_from_config(
            [{"metrics": ["a"], "detector": {"kind": "window"}}, {"metrics": [], "detector": {"kind": "window"}}]
        )


def test_a_bad_detector_inside_a_rule_names_the_parameter():
    with pytest.raises(LupusValidationError, match=r"detect\[0\]\.detector: detector\.method"):
        rules_from_config([{"metrics": ["a"], "detector": {"kind": "window", "method": "iqr"}}])


def test_a_rule_dumps_its_detector_as_config():
    rule = DetectorRule(metrics=["a"], detector={"kind": "threshold", "max": 1})
    assert rule.model_dump()["detector"] == {"kind": "threshold", **ThresholdDetector(max=1).params()}
