"""Loading a ProfileSpec from product YAML, and the errors for a spec that cannot work."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.stats import ProfileSpec, compute_profile
from lupus_metrics.stats.column_types import ColumnType
from lupus_metrics.stats.compiler import compile_plan

PRODUCT_YAML = """
type: lupus_dagster.components.MonitoredProduct
attributes:
  product: service1_recommend
  datasource: service1-recommend
  profile:
    group_by: [region]
    columns:
      score: [mean, p50, p95, null_rate]
      tags: ["topk:10"]
  checks:
    rows.count: {min: 1000}
"""
SCHEMA = {
    "region": ColumnType("string"),
    "score": ColumnType("numeric", floating=True),
    "name": ColumnType("string"),
    "tags": ColumnType("array"),
    "seen": ColumnType("datetime"),
}


def error_of(**spec: object) -> LupusValidationError:
    with pytest.raises(LupusValidationError) as caught:
        compile_plan(ProfileSpec(**spec), SCHEMA)
    return caught.value


def test_spec_loads_from_the_profile_block_of_a_product_file():
    spec = ProfileSpec.from_yaml(PRODUCT_YAML)
    assert spec.group_by == ["region"]
    assert {c: [s.text for s in stats] for c, stats in spec.columns.items()} == {
        "score": ["mean", "p50", "p95", "null_rate"],
        "tags": ["topk:10"],
    }


def test_spec_loads_from_a_bare_profile_block_with_filter_and_sample():
    spec = ProfileSpec.from_yaml(
        "group_by: [region]\ncolumns: {score: }\nfilter: score > 0\nsample: {fraction: 0.1, seed: 3}"
    )
    assert spec.columns == {"score": []}
    assert (spec.filter, spec.sample.fraction, spec.sample.seed) == ("score > 0", 0.1, 3)


def test_spec_compiles_metric_names_as_column_dot_stat():
    plan = compile_plan(ProfileSpec.from_yaml(PRODUCT_YAML), SCHEMA)
    assert [o.metric for o in plan.outputs] == ["rows.count", "score.mean", "score.p50", "score.p95", "score.null_rate"]
    assert [(t.column, t.k, t.elements) for t in plan.topks] == [("tags", 10, True)]


def test_column_listed_without_stats_gets_the_defaults_of_its_type():
    plan = compile_plan(ProfileSpec(columns={"seen": []}), SCHEMA)
    assert [o.metric for o in plan.outputs] == [
        "rows.count",
        "seen.count",
        "seen.null_rate",
        "seen.min",
        "seen.max",
        "seen.lag",
    ]


@pytest.mark.parametrize("text", ["topk:x", "topk:", "topk:0", "topk", "topk:1.5"])
def test_malformed_topk_names_the_column_and_the_stat(text):
    with pytest.raises(LupusValidationError, match=re.escape(f"profile.columns.name: stat {text!r} is malformed")):
        ProfileSpec.from_yaml(f"columns: {{name: ['{text}']}}")


@pytest.mark.parametrize("text", ["p101", "p-1", "p", "pxx", "length_p200"])
def test_quantile_outside_0_to_100_names_the_column_and_the_stat(text):
    with pytest.raises(
        LupusValidationError, match=re.escape(f"stat {text!r} is malformed: a quantile is pNN")
    ) as caught:
        ProfileSpec(columns={"score": [text]})
    assert caught.value.where == "profile.columns.score"


def test_unknown_stat_is_rejected_with_its_name():
    with pytest.raises(LupusValidationError, match=re.escape("profile.columns.score: unknown stat 'median'")):
        ProfileSpec(columns={"score": ["median"]})


def test_unknown_column_is_rejected_before_reading_data():
    err = error_of(columns={"scroe": ["mean"]})
    assert err.where == "profile.columns.scroe"
    assert "unknown column 'scroe'" in err.rule


def test_stat_that_does_not_apply_to_the_type_names_column_and_stat():
    err = error_of(columns={"name": ["mean"]})
    assert str(err).startswith("profile.columns.name: stat 'mean' does not apply to a string column")


def test_topk_of_a_number_is_rejected():
    assert "stat 'topk:3' does not apply to a numeric column" in str(error_of(columns={"score": ["topk:3"]}))


def test_array_group_by_column_is_rejected():
    err = error_of(group_by=["tags"], columns={"score": ["mean"]})
    assert err.where == "profile.group_by"
    assert "'tags' is of kind array" in err.rule


def test_unknown_group_by_column_is_rejected():
    assert error_of(group_by=["country"]).where == "profile.group_by"


def test_group_by_column_named_like_a_topk_label_is_rejected():
    with pytest.raises(LupusValidationError, match="'rank' is reserved"):
        ProfileSpec(group_by=["rank"])


def test_other_share_without_topk_is_rejected():
    with pytest.raises(LupusValidationError, match="'other_share' needs a topk:K"):
        ProfileSpec(columns={"name": ["other_share"]})


def test_two_topk_on_one_column_are_rejected():
    with pytest.raises(LupusValidationError, match="at most one topk:K per column"):
        ProfileSpec(columns={"name": ["topk:3", "topk:5"]})


def test_unknown_spec_key_is_rejected_with_its_path():
    with pytest.raises(LupusValidationError, match=re.escape("profile.colums")):
        ProfileSpec.from_yaml("colums: {score: [mean]}")


def test_sample_fraction_outside_0_1_is_rejected():
    with pytest.raises(LupusValidationError, match=re.escape("profile.sample.fraction")):
        ProfileSpec(sample={"fraction": 1.5})


def test_compute_profile_raises_the_spec_error_for_a_dataframe():
    df = pd.DataFrame({"name": ["a", "b"]})
    with pytest.raises(LupusValidationError, match="stat 'mean' does not apply to a string column"):
        compute_profile(df, {"columns": {"name": ["mean"]}}, ts="2026-01-01")


def test_unparsable_filter_is_a_validation_error():
    df = pd.DataFrame({"score": [1.0]})
    with pytest.raises(LupusValidationError, match=re.escape("profile.filter")):
        compute_profile(df, {"columns": {"score": ["mean"]}, "filter": "score >> > 1"}, ts="2026-01-01")
