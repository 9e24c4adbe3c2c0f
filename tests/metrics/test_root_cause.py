"""Root-cause slices: which labels explain an aggregate's change (additive and ratio metrics)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.root_cause import RootCause, explain

REGIONS, PLATFORMS = ["JP", "US", "DE", "FR"], ["ios", "android", "web"]


def grid(seed: int = 0, size: float = 1000.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(list(itertools.product(REGIONS, PLATFORMS)), columns=["region", "platform"])
    expected = size * rng.uniform(0.5, 2.0, len(frame))
    return frame.assign(expected=expected, actual=rng.poisson(expected).astype(float))


def test_a_dropped_region_is_named_first_with_its_share_of_the_drop():
    leaves = grid()
    jp = leaves["region"] == "JP"
    leaves.loc[jp, "actual"] *= 0.3
    result = explain(leaves, dimensions=["region", "platform"])
    assert result.slices[0].labels == {"region": "JP"}
    assert result.slices[0].effect == "volume" and 0.9 < result.slices[0].share < 1.1
    assert result.direction == "drop" and result.text().startswith("region=JP explains")


def test_a_broken_intersection_beats_its_parent_slices():
    leaves = grid(1)
    broken = (leaves["region"] == "US") & (leaves["platform"] == "android")
    leaves.loc[broken, "actual"] *= 0.2
    assert explain(leaves, dimensions=["region", "platform"]).slices[0].labels == {
        "region": "US",
        "platform": "android",
    }


def test_two_independent_causes_come_first_and_second():
    leaves = grid(2)
    leaves.loc[leaves["region"] == "DE", "actual"] *= 0.4
    leaves.loc[leaves["platform"] == "web", "actual"] *= 0.5
    top_two = [s.labels for s in explain(leaves, dimensions=["region", "platform"]).slices[:2]]
    assert sorted(map(str, top_two)) == sorted(map(str, [{"region": "DE"}, {"platform": "web"}]))


def test_a_rate_drop_weighted_by_support_is_a_rate_effect():
    leaves = pd.DataFrame({"region": REGIONS, "n": [1000.0, 5000, 3000, 2000], "actual": [0.18, 0.62, 0.60, 0.64],
                           "expected": [0.63, 0.62, 0.61, 0.63]})  # fmt: skip
    result = explain(leaves, dimensions=["region"], kind="ratio")
    top = result.slices[0]
    assert (top.labels, top.effect, result.weights) == ({"region": "JP"}, "rate", "n")
    assert top.share > 0.8 and top.actual == pytest.approx(0.18) and top.expected == pytest.approx(0.63)
    # The aggregate is the support-weighted mean of the leaves.
    assert result.actual == pytest.approx((leaves["n"] * leaves["actual"]).sum() / leaves["n"].sum())


def test_without_supports_every_leaf_weighs_the_same():
    leaves = pd.DataFrame({"region": REGIONS, "n": np.nan, "actual": [0.18, 0.62, 0.60, 0.64],
                           "expected": [0.63, 0.62, 0.61, 0.63]})  # fmt: skip
    result = explain(leaves, dimensions=["region"], kind="ratio")
    assert result.weights == "equal" and result.slices[0].labels == {"region": "JP"}
    assert result.actual == pytest.approx(leaves["actual"].mean())


def test_a_flood_of_users_into_a_low_rate_segment_is_a_mix_effect():
    leaves = pd.DataFrame({"platform": PLATFORMS, "actual": [0.30, 0.10, 0.31], "expected": [0.30, 0.10, 0.30],
                           "n": [1000.0, 4000, 1000], "n_expected": [1000.0, 1000, 1000]})  # fmt: skip
    result = explain(leaves, dimensions=["platform"], kind="ratio")
    top = result.slices[0]
    assert (top.labels, top.effect) == ({"platform": "android"}, "mix")
    assert "through its share of the support" in top.text(result.direction)


def test_rate_and_mix_terms_add_up_to_the_change():
    leaves = pd.DataFrame({"platform": PLATFORMS, "actual": [0.2, 0.5, 0.4], "expected": [0.3, 0.5, 0.35],
                           "n": [500.0, 1500, 800], "n_expected": [900.0, 1000, 800]})  # fmt: skip
    result = explain(leaves, dimensions=["platform"], kind="ratio", top=3)
    by_effect = {(tuple(s.labels.items()), s.effect): s.share for s in result.slices}
    assert all(-2 < share < 2 for share in by_effect.values())
    assert result.actual - result.expected == pytest.approx(
        (leaves["n"] @ leaves["actual"]) / leaves["n"].sum()
        - (leaves["n_expected"] @ leaves["expected"]) / leaves["n_expected"].sum()
    )


def test_nothing_changed_means_no_slices():
    leaves = grid().assign(actual=lambda f: f["expected"])
    assert explain(leaves, dimensions=["region", "platform"]).slices == []


def test_a_missing_leaf_counts_as_zero_for_counts():
    leaves = grid(3)
    leaves.loc[(leaves["region"] == "FR") & (leaves["platform"] == "ios"), "actual"] = np.nan
    assert explain(leaves, dimensions=["region", "platform"]).slices[0].labels == {"region": "FR", "platform": "ios"}


def test_the_result_round_trips_through_json():
    leaves = grid()
    leaves.loc[leaves["region"] == "JP", "actual"] *= 0.3
    result = explain(leaves, dimensions=["region", "platform"])
    assert RootCause.from_json(result.to_json()) == result


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"dimensions": []}, "dimensions"), ({"dimensions": ["country"]}, "leaves"), ({"kind": "mean"}, "kind"),
     ({"top": 0}, "top")],
)  # fmt: skip
def test_bad_input_names_the_argument(kwargs, field):
    with pytest.raises(LupusValidationError, match=field):
        explain(grid(), **({"dimensions": ["region"]} | kwargs))
