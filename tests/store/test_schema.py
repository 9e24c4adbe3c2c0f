"""The data model: series identity and the label rules."""

import pytest

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.schema import MetricPoint, series_id, validate_datasource, validate_labels


def test_series_id_does_not_depend_on_label_order():
    assert series_id("ds", "m", {"a": "1", "b": "2"}) == series_id("ds", "m", {"b": "2", "a": "1"})


def test_series_id_differs_when_any_part_differs():
    base = series_id("ds", "m", {"a": "1"})
    assert (
        len(
            {
                base,
                series_id("ds2", "m", {"a": "1"}),
                series_id("ds", "m2", {"a": "1"}),
                series_id("ds", "m", {"a": "2"}),
                series_id("ds", "m", {"a": "1", "b": "1"}),
            }
        )
        == 5
    )


def test_series_id_is_stable_across_releases():
    # Stored ids and chart links depend on this exact value: changing it is a breaking change.
    assert series_id("service1-recommend", "ranking.ndcg", {"k": "10", "region": "JP"}) == "c710ca1ffb66db2b"


def test_series_id_is_not_fooled_by_separator_characters():
    assert series_id("ds", "a.b", {"c": "d"}) != series_id("ds", "a", {"b.c": "d"})


@pytest.mark.parametrize("key", ["", "1region", "re gion", "région", "a" * 65])
def test_label_keys_outside_the_charset_are_rejected(key):
    with pytest.raises(LupusValidationError, match="key must match"):
        validate_labels({key: "x"})


def test_label_values_may_be_unicode_text():
    assert validate_labels({"city": "東京"}) == {"city": "東京"}


@pytest.mark.parametrize("value", [1, None, "x" * 257, "a\nb"])
def test_label_values_must_be_short_strings(value):
    with pytest.raises(LupusValidationError, match="value of 'k'"):
        validate_labels({"k": value})


def test_at_most_sixteen_labels():
    with pytest.raises(LupusValidationError, match="at most 16"):
        validate_labels({f"k{i}": "v" for i in range(17)})


@pytest.mark.parametrize("name", ["", "Upper", "with space", "-lead", "a/b", "x" * 64])
def test_datasource_names_are_path_safe(name):
    with pytest.raises(LupusValidationError, match="datasource"):
        validate_datasource(name)


def test_metric_point_model_rejects_infinity_and_bad_labels():
    with pytest.raises(ValueError, match="finite"):
        MetricPoint(metric="m", ts="2026-01-01", value=float("inf"))
    with pytest.raises(ValueError, match="key must match"):
        MetricPoint(metric="m", labels={"bad key": "x"}, ts="2026-01-01", value=1)


def test_metric_point_model_keeps_null_as_missing():
    assert MetricPoint(metric="m", ts="2026-01-01T00:00:00Z", value=None).value is None
