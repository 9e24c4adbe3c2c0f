"""The daily-partitioned anomalies asset shared by monitored products and monitored Dagster assets.

(No ``from __future__ import annotations``: Dagster reads the context annotation at runtime.)

It runs the detector rules over the datasource's stored history once per run: for one day (the
daily path) or a range of days (a ranged run). Days reported as blocked (their blocking check
failed) get no verdicts and, with every other failed day of the lookback, are left out of the
detectors' baselines. Each partition of a ranged run gets its own counts as metadata.
"""

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

import dagster as dg
import pandas as pd

from lupus_dagster.assets.partition_range import contiguous_runs, run_days
from lupus_store.detection import detect_and_store, history_start

#: ``(context, days) -> failed days`` among ``days``; the asset asks for its run's days plus the lookback.
FailedDays = Callable[[dg.AssetExecutionContext, Sequence[date]], set[date]]


def build_anomalies_asset(
    *,
    key: dg.AssetKey,
    datasource: str,
    rules: Sequence[Any],
    lookback_days: int,
    partitions: dg.PartitionsDefinition,
    backfill_policy: dg.BackfillPolicy,
    writer: str,
    deps: Sequence[dg.AssetKey] = (),
    failed_days: FailedDays | None = None,
    **asset_options: Any,
) -> dg.AssetsDefinition:
    """The anomalies asset of ``datasource``; ``asset_options`` go to ``@dg.asset`` (group, owners, tags...)."""

    @dg.asset(
        key=key,
        deps=list(deps),
        partitions_def=partitions,
        backfill_policy=backfill_policy,
        kinds={"python", "parquet"},
        required_resource_keys={"store"},
        metadata={"datasource": datasource},
        **asset_options,
    )
    def anomalies(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        days = run_days(context)
        store = context.resources.store.get_store()
        # Every day a detector may learn from in this run: from the first day's history start on.
        first_seen = history_start(days[0], lookback_days)
        history = [first_seen + timedelta(days=n) for n in range((days[-1] - first_seen).days + 1)]
        failed = failed_days(context, history) if failed_days is not None else set()
        # One day runs only when its blocking check passed (Dagster blocks it otherwise); a range
        # leaves out its own failed days here.
        blocked = failed & set(days) if len(days) > 1 else set()
        reports = [
            detect_and_store(
                store,
                datasource,
                rules,
                start=first,
                end=last,
                writer=writer,
                lookback_days=lookback_days,
                run_id=context.run_id,
                workers=1,
                excluded=sorted(failed),
            )
            for first, last in contiguous_runs(set(days) - blocked)
        ]
        errors = [error for report in reports for error in report.errors]
        for error in errors:
            context.log.warning(f"detection failed for {error}")
        by_metric: dict[str, int] = {}
        for report in reports:
            for metric, count in report.by_metric.items():
                by_metric[metric] = by_metric.get(metric, 0) + count
        if len(days) > 1:
            _per_day_metadata(context, datasource, store, days, blocked)
        return dg.MaterializeResult(
            metadata={
                "datasource": datasource,
                "evaluated": sum(report.evaluated for report in reports),
                "anomalies": sum(report.anomalies for report in reports),
                "anomalies_by_metric": by_metric,
                "failed_series": len(errors),
            }
        )

    return anomalies


def _per_day_metadata(
    context: dg.AssetExecutionContext, datasource: str, store: Any, days: list[date], blocked: set[date]
) -> None:
    """Each partition of a ranged run gets its own counts (what a one-day run's metadata says of its day)."""
    verdicts = store.read_anomalies(datasource, start=days[0], end=days[-1], only_anomalies=False)
    verdicts = verdicts[verdicts["run_id"] == context.run_id]
    groups = dict(tuple(verdicts.groupby(verdicts["ts"].dt.date))) if len(verdicts) else {}
    for day in days:
        frame: pd.DataFrame = groups.get(day, verdicts.iloc[:0])
        flagged = frame[frame["is_anomaly"]] if len(frame) else frame
        metadata: dict[str, Any] = {
            "evaluated": len(frame),
            "anomalies": len(flagged),
            "anomalies_by_metric": flagged.groupby("metric").size().to_dict() if len(flagged) else {},
        }
        if day in blocked:
            metadata["blocked"] = "the blocking check failed on this day: no detection"
        context.add_asset_metadata(metadata, partition_key=day.isoformat())
