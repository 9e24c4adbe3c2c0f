"""Great Expectations 1.x validation of one day's metric points (the blocking asset check).

`dagster-ge` requires GX < 1.0, so GX is called directly: an ephemeral context, a pandas
datasource, `batch.validate(suite)`. Two batches: the points as stored (schema, non-empty) and
the overall group's metrics as one wide row (the spec's ranges, the row-count floor).

Each failure says which rule of the spec failed, on which metric (the column of the wide
row), with the observed value, e.g. ``rule min_rows: rows.count = 700 is below the minimum
1500`` or ``rule checks['price.null_rate']: price.null_rate = 0.52 is above the maximum 0.05``.
"""

from __future__ import annotations

import fnmatch
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from lupus_dagster.product_spec import ProductSpec

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # no usage statistics leave the machine

STORED_COLUMNS = ["metric", "labels", "series_id", "ts", "value"]


@dataclass
class ValidationOutcome:
    """Whether the day passed, and one line per failed expectation (rule, metric, observed value)."""

    passed: bool
    failures: list[str] = field(default_factory=list)
    evaluated: int = 0
    failed_metrics: list[str] = field(default_factory=list)

    def alert_metadata(self) -> dict[str, str]:
        """Check metadata the alert sensor reads: the first failed metric (its chart link) and all of them
        (the incident groups the check with their anomalies)."""
        if not self.failed_metrics:
            return {}
        return {"metric": self.failed_metrics[0], "metrics": "\n".join(self.failed_metrics)}


def validate_day(points: pd.DataFrame, spec: ProductSpec) -> ValidationOutcome:
    """Validate a day's stored points against the spec's checks (see module docstring)."""
    gx = _import_gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("lupus")
    failures: list[str] = []
    evaluated = 0

    stored = gx.ExpectationSuite(name="stored")
    stored.add_expectation(gx.expectations.ExpectTableColumnsToMatchSet(column_set=STORED_COLUMNS, exact_match=False))
    stored.add_expectation(gx.expectations.ExpectTableRowCountToBeBetween(min_value=1))
    stored.add_expectation(gx.expectations.ExpectColumnValuesToNotBeNull(column="metric"))
    result = _validate(source, "stored", points.drop(columns=["labels"], errors="ignore").assign(labels=""), stored)
    evaluated += len(result.results)
    failures += [_describe(r, {}) for r in result.results if not r.success]

    overall = _overall_row(points)
    safe = {name: f"m{i}" for i, name in enumerate(overall.columns)}  # GX column names stay plain identifiers
    ranges = gx.ExpectationSuite(name="ranges")
    rules = {"rows.count": {"min": float(spec.min_rows), "max": None, "rule": "min_rows"}} if spec.min_rows else {}
    for pattern, rule in spec.checks.items():
        matched = [m for m in overall.columns if fnmatch.fnmatchcase(m, pattern)]
        if not matched:
            failures.append(f"rule checks[{pattern!r}]: no such metric was computed for the overall group")
        for metric in matched:
            rules[metric] = {"min": rule.min, "max": rule.max, "rule": f"checks[{pattern!r}]"}
    for metric, bounds in rules.items():
        if metric not in safe:
            failures.append(f"rule {bounds['rule']}: {metric} was not computed for the overall group")
            continue
        ranges.add_expectation(
            gx.expectations.ExpectColumnValuesToBeBetween(
                column=safe[metric], min_value=bounds["min"], max_value=bounds["max"], mostly=1.0
            )
        )
        ranges.add_expectation(gx.expectations.ExpectColumnValuesToNotBeNull(column=safe[metric]))
    if rules and len(overall):
        result = _validate(source, "ranges", overall.rename(columns=safe), ranges)
        evaluated += len(result.results)
        names = {v: k for k, v in safe.items()}
        failed = [r for r in result.results if not r.success]
        failures += [_describe_range(r, names, rules) for r in failed]
        failed_metrics = list(dict.fromkeys(names[r.expectation_config.kwargs["column"]] for r in failed))
    else:
        failed_metrics = []
    return ValidationOutcome(not failures, failures, evaluated, failed_metrics)


def _import_gx() -> Any:
    # GX imports pyspark.sql.connect when pyspark is installed, and that module calls sys.exit(0)
    # when __main__ has neither __file__ nor __spec__ (as under `python -c`), taking the process
    # for a doctest run. Give __main__ a file name for the duration of the import.
    main = sys.modules.get("__main__")
    patch = main is not None and getattr(main, "__spec__", None) is None and not hasattr(main, "__file__")
    if patch:
        main.__file__ = "<lupus>"
    try:
        import great_expectations as gx
    finally:
        if patch:
            del main.__file__
    return gx


def _validate(source: Any, name: str, frame: pd.DataFrame, suite: Any) -> Any:
    batch = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("day")
    return batch.get_batch(batch_parameters={"dataframe": frame}).validate(suite)


def _overall_row(points: pd.DataFrame) -> pd.DataFrame:
    if points.empty:
        return pd.DataFrame()
    overall = points[points["labels"].map(lambda labels: not labels)]
    return pd.DataFrame([dict(zip(overall["metric"], overall["value"], strict=True))])


def _describe_range(result: Any, names: dict[str, str], rules: dict[str, dict]) -> str:
    """``rule <name>: <metric> = <observed> is below the minimum <min>`` (or above, or missing)."""
    kwargs = dict(result.expectation_config.kwargs)
    metric = names.get(kwargs.get("column"), kwargs.get("column"))
    bounds = rules.get(metric, {})
    observed = _observed(result)
    prefix = f"rule {bounds.get('rule', 'checks')}: {metric}"
    if observed is None or (isinstance(observed, float) and observed != observed):
        return f"{prefix} is missing (null)"
    low, high = bounds.get("min"), bounds.get("max")
    if low is not None and observed < low:
        return f"{prefix} = {observed:.6g} is below the minimum {low:g}"
    if high is not None and observed > high:
        return f"{prefix} = {observed:.6g} is above the maximum {high:g}"
    return f"{prefix} = {observed!r}: {result.expectation_config.type} failed"


def _observed(result: Any) -> Any:
    observed = result.result.get("observed_value")
    if observed is None:
        unexpected = result.result.get("partial_unexpected_list")
        observed = unexpected[0] if unexpected else None
    return observed


def _describe(result: Any, names: dict[str, str]) -> str:
    config = result.expectation_config
    kwargs = dict(config.kwargs)
    column = names.get(kwargs.get("column"), kwargs.get("column"))
    observed = result.result.get("observed_value")
    if observed is None:
        unexpected = result.result.get("partial_unexpected_list")
        observed = unexpected[0] if unexpected else None
    bounds = {k: kwargs[k] for k in ("min_value", "max_value") if kwargs.get(k) is not None}
    target = f" {column}" if column else ""
    return f"{config.type}{target}: observed {observed!r}, expected {bounds or 'to hold'}"
