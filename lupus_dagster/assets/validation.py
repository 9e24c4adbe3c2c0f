"""Great Expectations 1.x validation of metric points, one outcome per partition day (the blocking check).

`dagster-ge` requires GX < 1.0, so GX is called directly: an ephemeral context, a pandas
datasource, `batch.validate(suite)`. Two batches, each validated once for any number of days
(a ranged backfill validates a year in one pass; row-level results are mapped back to days):

- the points as stored: the schema, no point without a metric name;
- one row per day holding the overall group's metrics as columns plus the day's point count:
  the day has points, the spec's value ranges hold and the row-count floor is met.

Example:
    >>> import pandas as pd
    >>> from lupus_dagster.product_spec import ProductSpec
    >>> spec = ProductSpec.model_validate({"product": "p", "team": "t", "datasource": "d",
    ...     "partitions": {"start": "2026-01-01"}, "source": {"parquet": "x/{date}.parquet"}, "min_rows": 100})
    >>> points = pd.DataFrame({"metric": ["rows.count"] * 2, "labels": [{}] * 2, "series_id": ["s"] * 2,
    ...     "ts": pd.to_datetime(["2026-01-01", "2026-01-02"], utc=True), "value": [150.0, 20.0]})
    >>> outcomes = validate_days(points, spec, [date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)])
    >>> [outcomes[d].passed for d in sorted(outcomes)]
    [True, False, False]
    >>> outcomes[date(2026, 1, 2)].failed_metrics
    ['rows.count']
"""

from __future__ import annotations

import fnmatch
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from lupus_dagster.product_spec import ProductSpec

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # no usage statistics leave the machine

STORED_COLUMNS = ["metric", "labels", "series_id", "ts", "value"]
_POINTS = "__points"  # the per-day point count, a column of the wide batch


@dataclass
class ValidationOutcome:
    """Whether the day passed, and one line per failed expectation."""

    passed: bool
    failures: list[str] = field(default_factory=list)
    evaluated: int = 0
    failed_metrics: list[str] = field(default_factory=list)


def validate_day(points: pd.DataFrame, spec: ProductSpec, day: date | None = None) -> ValidationOutcome:
    """Validate one day's stored points (``day`` defaults to the day of the points' ``ts``)."""
    if day is None:
        days = sorted(set(pd.to_datetime(points["ts"], utc=True).dt.date)) if len(points) else []
        if len(days) > 1:
            raise ValueError(f"validate_day got points of {len(days)} days; use validate_days")
        day = days[0] if days else date.min
    return validate_days(points, spec, [day])[day]


def validate_days(points: pd.DataFrame, spec: ProductSpec, days: Sequence[date]) -> dict[date, ValidationOutcome]:
    """Validate the stored points of each of ``days`` (points of other days are ignored); see the module docstring."""
    gx = _import_gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("lupus")
    wanted = list(dict.fromkeys(days))
    outcomes = {day: ValidationOutcome(passed=True) for day in wanted}
    points = points.reset_index(drop=True)
    point_days = pd.to_datetime(points["ts"], utc=True).dt.date if len(points) else pd.Series([], dtype=object)
    points = points[point_days.isin(wanted).to_numpy()].reset_index(drop=True)
    point_days = point_days[point_days.isin(wanted)].reset_index(drop=True)

    stored = gx.ExpectationSuite(name="stored")
    stored.add_expectation(gx.expectations.ExpectTableColumnsToMatchSet(column_set=STORED_COLUMNS, exact_match=False))
    stored.add_expectation(gx.expectations.ExpectColumnValuesToNotBeNull(column="metric"))
    frame = points.drop(columns=["labels"], errors="ignore").assign(labels="")
    for result in _validate(source, "stored", frame, stored).results:
        _record(outcomes, result, {}, rows_to_days=list(point_days))

    wide, names = _wide_rows(points, point_days, wanted)
    ranges = gx.ExpectationSuite(name="ranges")
    ranges.add_expectation(gx.expectations.ExpectColumnValuesToBeBetween(column=_POINTS, min_value=1, mostly=1.0))
    rules = {"rows.count": {"min": float(spec.min_rows), "max": None}} if spec.min_rows else {}
    for pattern, rule in spec.checks.items():
        matched = [m for m in names if fnmatch.fnmatchcase(m, pattern)]
        if not matched:
            for outcome in outcomes.values():
                outcome.failures.append(f"check {pattern!r}: no such metric was computed for the overall group")
        for metric in matched:
            rules[metric] = {"min": rule.min, "max": rule.max}
    for metric, bounds in rules.items():
        if metric not in names:
            for outcome in outcomes.values():
                outcome.failures.append(f"check {metric!r}: metric missing")
            continue
        column = names[metric]
        ranges.add_expectation(
            gx.expectations.ExpectColumnValuesToBeBetween(
                column=column, min_value=bounds["min"], max_value=bounds["max"], mostly=1.0
            )
        )
        ranges.add_expectation(gx.expectations.ExpectColumnValuesToNotBeNull(column=column))
    labels = {column: metric for metric, column in names.items()}
    for result in _validate(source, "ranges", wide, ranges).results:
        _record(outcomes, result, labels, rows_to_days=wanted)
    for outcome in outcomes.values():
        outcome.passed = not outcome.failures
        outcome.failed_metrics = list(dict.fromkeys(outcome.failed_metrics))
    return outcomes


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
    batch = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("days")
    # COMPLETE lists every failing row, which is how a row-level failure finds its day.
    return batch.get_batch(batch_parameters={"dataframe": frame}).validate(suite, result_format="COMPLETE")


def _wide_rows(points: pd.DataFrame, point_days: pd.Series, days: list[date]) -> tuple[pd.DataFrame, dict[str, str]]:
    """One row per day (in ``days`` order): the overall group's metrics, plus the day's point count.

    Returns the frame with plain-identifier column names (GX needs them) and metric -> column.
    """
    overall = points["labels"].map(lambda labels: not labels).to_numpy() if len(points) else []
    table = pd.DataFrame(
        {"day": point_days[overall].to_numpy(), "metric": points["metric"][overall].to_numpy(),
         "value": points["value"][overall].to_numpy()}
    )  # fmt: skip
    wide = table.pivot_table(index="day", columns="metric", values="value", aggfunc="last", dropna=False)
    wide = wide.reindex(days)
    names = {metric: f"m{i}" for i, metric in enumerate(wide.columns)}
    wide = wide.rename(columns=names).reset_index(drop=True)
    wide[_POINTS] = point_days.value_counts().reindex(days, fill_value=0).to_numpy()
    return wide, names


def _record(
    outcomes: dict[date, ValidationOutcome], result: Any, labels: dict[str, str], *, rows_to_days: list
) -> None:
    """Count the expectation for every day and add its failure to the days it failed on."""
    config = result.expectation_config
    kwargs = dict(config.kwargs)
    column = kwargs.get("column")
    for outcome in outcomes.values():
        outcome.evaluated += 1
    if result.success:
        return
    bounds = {k: kwargs[k] for k in ("min_value", "max_value") if kwargs.get(k) is not None}
    failed_rows = result.result.get("unexpected_index_list")
    if column is None or failed_rows is None:  # a table-level expectation fails every day
        observed = result.result.get("observed_value")
        target = f" {labels.get(column, column)}" if column else ""
        for outcome in outcomes.values():
            outcome.failures.append(f"{config.type}{target}: observed {observed!r}, expected {bounds or 'to hold'}")
        return
    values = result.result.get("unexpected_list") or [None] * len(failed_rows)
    for row, value in zip(failed_rows, values, strict=False):
        outcome = outcomes[rows_to_days[row]]
        shown = "points" if column == _POINTS else labels.get(column, column)
        outcome.failures.append(f"{config.type} {shown}: observed {_plain(value)!r}, expected {bounds or 'to hold'}")
        if column in labels:
            outcome.failed_metrics.append(labels[column])


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value != value:  # NaN: the metric is missing on that day
        return None
    return value.item() if hasattr(value, "item") else value
