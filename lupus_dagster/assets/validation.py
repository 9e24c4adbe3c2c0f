"""Great Expectations 1.x validation of one day's metric points (the blocking asset check).

`dagster-ge` requires GX < 1.0, so GX is called directly: an ephemeral context, a pandas
datasource, `batch.validate(suite)`. Two batches: the points as stored (schema, non-empty) and
the overall group's metrics as one wide row (the spec's ranges, the row-count floor).
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
    """Whether the day passed, and one line per failed expectation."""

    passed: bool
    failures: list[str] = field(default_factory=list)
    evaluated: int = 0
    failed_metrics: list[str] = field(default_factory=list)


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
    rules = {"rows.count": {"min": float(spec.min_rows), "max": None}} if spec.min_rows else {}
    for pattern, rule in spec.checks.items():
        matched = [m for m in overall.columns if fnmatch.fnmatchcase(m, pattern)]
        if not matched:
            failures.append(f"check {pattern!r}: no such metric was computed for the overall group")
        for metric in matched:
            rules[metric] = {"min": rule.min, "max": rule.max}
    for metric, bounds in rules.items():
        if metric not in safe:
            failures.append(f"check {metric!r}: metric missing")
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
        failures += [_describe(r, names) for r in failed]
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
