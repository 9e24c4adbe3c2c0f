"""Backfilling a product's partitions in this process: the demo, `lupus backfill` and the incident replay.

Consecutive days run as ranged Dagster runs of at most ``spec.partitions.days_per_run`` days
(the same runs a backfill launched from the Dagster UI makes under the assets' backfill
policy): metrics day by day, the Great Expectations check per day, detection once per run.
Each run is recorded in the instance, so the Dagster UI shows it with one materialization and
one check evaluation per partition.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from lupus_dagster.assets.partition_range import contiguous_runs
from lupus_dagster.assets.product_assets import anomalies_key, build_product_assets, metrics_key
from lupus_dagster.event_batches import enable_event_batches
from lupus_dagster.product_spec import ProductSpec

# Outcomes are summarized per day; a blocked day's step error would only repeat them on the console.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass(frozen=True)
class PartitionOutcome:
    """What happened to one partition day of one product."""

    product: str
    day: date
    success: bool
    check_passed: bool | None
    anomalies: int
    failure: str | None = None


def backfill_spans(days: Iterable[date], days_per_run: int) -> list[tuple[date, date]]:
    """The runs a backfill of ``days`` makes: spans of consecutive days, at most ``days_per_run`` long.

    >>> d = date(2026, 1, 1)
    >>> backfill_spans([d + timedelta(days=n) for n in (0, 1, 2, 3, 4, 9)], 2)  # doctest: +NORMALIZE_WHITESPACE
    [(datetime.date(2026, 1, 1), datetime.date(2026, 1, 2)), (datetime.date(2026, 1, 3), datetime.date(2026, 1, 4)),
     (datetime.date(2026, 1, 5), datetime.date(2026, 1, 5)), (datetime.date(2026, 1, 10), datetime.date(2026, 1, 10))]
    """
    spans = []
    for first, last in contiguous_runs(days):
        while first <= last:
            end = min(last, first + timedelta(days=days_per_run - 1))
            spans.append((first, end))
            first = end + timedelta(days=1)
    return spans


def backfill_product(
    spec: ProductSpec,
    days: Iterable[date],
    *,
    instance: dg.DagsterInstance,
    resources: Mapping[str, Any],
    on_run: Callable[[date, date, float], None] | None = None,
) -> list[PartitionOutcome]:
    """Materialize metrics, checks and anomalies for ``days`` in ranged runs; one outcome per day.

    A day whose source is missing or whose blocking check fails is reported, and the other days
    go on (as a Dagster backfill would). ``on_run(first, last, seconds)`` is called after each run.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        definitions = build_product_assets(spec)
    enable_event_batches()  # a run's per-partition events are written in batches
    outcomes: list[PartitionOutcome] = []
    for first, last in backfill_spans(days, spec.partitions.days_per_run):
        tags = {"lupus/product": spec.product}
        if first == last:  # one day: exactly the cron path's run
            partition = {"partition_key": first.isoformat()}
        else:
            partition = {}
            tags |= {
                ASSET_PARTITION_RANGE_START_TAG: first.isoformat(),
                ASSET_PARTITION_RANGE_END_TAG: last.isoformat(),
            }
        began = time.monotonic()
        result = dg.materialize(
            definitions,
            instance=instance,
            resources=dict(resources),
            raise_on_error=False,
            tags=tags,
            run_config=QUIET,
            **partition,
        )
        outcomes += _outcomes(spec, result, first, last)
        if on_run is not None:
            on_run(first, last, time.monotonic() - began)
    return outcomes


def _outcomes(spec: ProductSpec, result: dg.ExecuteInProcessResult, first: date, last: date) -> list[PartitionOutcome]:
    checks: dict[str, bool] = {}
    metrics: dict[str, Mapping[str, Any]] = {}
    anomalies: dict[str, Mapping[str, Any]] = {}
    failure = None
    for event in result.all_events:
        data = event.event_specific_data
        if event.event_type_value == "ASSET_CHECK_EVALUATION" and data.check_name == "ge_validation":
            checks[data.partition or first.isoformat()] = data.passed
        elif event.event_type_value == "ASSET_MATERIALIZATION":
            materialization = data.materialization
            target = metrics if materialization.asset_key == metrics_key(spec) else anomalies
            if materialization.asset_key in (metrics_key(spec), anomalies_key(spec)):
                target[materialization.partition] = {k: v.value for k, v in materialization.metadata.items()}
        elif event.event_type_value == "STEP_FAILURE" and failure is None:
            failure = data.error.message.strip().splitlines()[0]
    outcomes = []
    for n in range((last - first).days + 1):
        day = first + timedelta(days=n)
        key = day.isoformat()
        source = str(metrics.get(key, {}).get("source", ""))
        problem = source if source.startswith("missing") else (None if key in metrics else failure or "run failed")
        outcomes.append(
            PartitionOutcome(
                spec.product,
                day,
                success=key in metrics and problem is None,
                check_passed=checks.get(key),
                anomalies=int(anomalies.get(key, {}).get("anomalies", 0)),
                failure=problem,
            )
        )
    return outcomes
