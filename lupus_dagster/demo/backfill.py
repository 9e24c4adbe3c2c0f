"""Materializing a product's partitions in one process: the demo's backfill and the incident replay."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import dagster as dg

from lupus_dagster.assets.product_assets import anomalies_key, build_product_assets
from lupus_dagster.product_spec import ProductSpec


@dataclass(frozen=True)
class PartitionOutcome:
    """What happened to one partition day of one product."""

    product: str
    day: date
    success: bool
    check_passed: bool | None
    anomalies: int
    failure: str | None = None


def backfill_product(
    spec: ProductSpec,
    days: Iterable[date],
    *,
    instance: dg.DagsterInstance,
    resources: Mapping[str, Any],
) -> list[PartitionOutcome]:
    """Materialize metrics, checks and anomalies for each day, one in-process run per day.

    A day whose source is missing or whose blocking check fails is reported, and the backfill
    goes on with the next day (as a Dagster backfill would).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        definitions = build_product_assets(spec)
    outcomes = []
    for day in days:
        result = dg.materialize(
            definitions,
            partition_key=day.isoformat(),
            instance=instance,
            resources=dict(resources),
            raise_on_error=False,
            tags={"lupus/product": spec.product},
            # Outcomes are summarized per day below; a blocked day's step error would only repeat it.
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        )
        checks = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
        ge = [c for c in checks if c.check_name == "ge_validation"]
        anomalies = [
            m for m in result.asset_materializations_for_node(_node_name(result, spec)) if m.asset_key == anomalies_key(spec)
        ] if _node_name(result, spec) else []  # fmt: skip
        count = int(anomalies[0].metadata["anomalies"].value) if anomalies else 0
        failure = None
        if not result.success:
            failed = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
            failure = failed[0].event_specific_data.error.message.strip().splitlines()[0] if failed else "run failed"
        outcomes.append(
            PartitionOutcome(spec.product, day, result.success, ge[0].passed if ge else None, count, failure)
        )
    return outcomes


def _node_name(result: dg.ExecuteInProcessResult, spec: ProductSpec) -> str | None:
    for event in result.all_events:
        if (
            event.event_type_value == "ASSET_MATERIALIZATION"
            and event.event_specific_data.materialization.asset_key == anomalies_key(spec)
        ):
            return event.node_name
    return None
