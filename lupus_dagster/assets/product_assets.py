"""The asset factory: one ProductSpec -> metrics asset, GX check, anomalies asset, freshness check.

Keys are ``[<product>, "metrics"]`` and ``[<product>, "anomalies"]``, grouped by product,
owned by the team. Resources are looked up by key (``store``, and ``pyspark`` for Spark
sources), so the same factory serves every product.
"""

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

import dagster as dg
import pandas as pd
from tqdm.auto import tqdm

from lupus_dagster.assets.anomalies import build_anomalies_asset
from lupus_dagster.assets.mlflow_metrics import build_mlflow_asset
from lupus_dagster.assets.partition_range import failed_check_days, latest_materializations, run_days
from lupus_dagster.assets.product_points import DayPoints, compute_day_points, select_columns
from lupus_dagster.assets.range_points import computes_by_span, span_points
from lupus_dagster.assets.sources import DaySources, SourceAccessError, SourceMissingError, s3_storage_options
from lupus_dagster.assets.validation import ValidationOutcome, validate_days
from lupus_dagster.product_spec import EvaluationTask, ProductSpec

PREVIEW_ROWS = 12
#: Days of points per store call in a ranged run (one validation and Arrow conversion each).
WRITE_DAYS = 32


def metrics_key(spec: ProductSpec) -> dg.AssetKey:
    return dg.AssetKey([spec.product, "metrics"])


def anomalies_key(spec: ProductSpec) -> dg.AssetKey:
    return dg.AssetKey([spec.product, "anomalies"])


def partitions_for(spec: ProductSpec) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date=spec.partitions.start.isoformat(), timezone=spec.partitions.timezone)


def pod_tags(spec: ProductSpec) -> dict[str, Any]:
    """`dagster-k8s/config` op tags carrying the spec's pod resources (used by the k8s executor)."""
    wanted = {k: v for k, v in (("cpu", spec.resources.cpu), ("memory", spec.resources.memory)) if v}
    if not wanted:
        return {}
    return {"dagster-k8s/config": {"container_config": {"resources": {"requests": wanted, "limits": wanted}}}}


def backfill_policy_for(spec: ProductSpec) -> dg.BackfillPolicy:
    """Backfills of up to ``spec.partitions.days_per_run`` days run as one Dagster run per span."""
    return dg.BackfillPolicy.multi_run(max_partitions_per_run=spec.partitions.days_per_run)


def build_product_assets(spec: ProductSpec) -> list[Any]:
    """Assets and checks of one product (the alert sensor is added by the component).

    Every definition runs for one partition (the daily cron path) or a range of them (a ranged
    backfill, see :mod:`lupus_dagster.assets.partition_range`): the metrics asset writes one
    file per day, the check judges each day on its own, detection runs once over the range.
    """
    partitions = partitions_for(spec)
    owners = [f"team:{spec.team}"]
    tags = pod_tags(spec)
    needs = {"store", "pyspark"} if spec.source.kind == "spark_table" else {"store"}
    if _reads_s3(spec):
        needs.add("s3")
    writer = f"{spec.product}-metrics"
    check_key = dg.AssetCheckKey(metrics_key(spec), "ge_validation")
    backfill_policy = backfill_policy_for(spec)

    @dg.asset(
        key=metrics_key(spec),
        partitions_def=partitions,
        backfill_policy=backfill_policy,
        group_name=spec.product,
        owners=owners,
        kinds={"python", "duckdb", "parquet"},
        op_tags=tags,
        required_resource_keys=needs,
        automation_condition=dg.AutomationCondition.on_cron(spec.partitions.cron, spec.partitions.timezone),
        description=f"Daily metric points of {spec.product} ({spec.datasource}): profile, evaluation, drift, churn.",
        metadata={"datasource": spec.datasource, "team": spec.team},
    )
    def metrics(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        days = run_days(context)
        store = context.resources.store.get_store()
        spark = _spark(context) if "pyspark" in needs else None
        # Endpoint and credentials of S3 sources: the environment, or the `s3` resource (assets/sources.py).
        options = s3_storage_options(context.resources.s3 if "s3" in needs else None)
        if len(days) == 1:
            try:
                with DaySources(storage_options=options, spark=spark) as sources:
                    metadata = _metrics_day(spec, days[0], sources, store, writer, context.run_id)
            except SourceMissingError as err:
                # Fail the partition loudly: an empty metrics file would look like a fine day.
                raise dg.Failure(description=f"{spec.product} {days[0]}: source missing: {err}") from err
            except SourceAccessError as err:
                raise dg.Failure(description=f"{spec.product} {days[0]}: source not readable: {err}") from None
            for note in metadata.pop("warnings"):
                context.log.warning(note)
            return dg.MaterializeResult(metadata=metadata)
        # A ranged run cannot fail one day alone (Dagster 1.13 marks every partition of the run
        # alike): a day without source writes nothing, says so in its metadata, and its check fails.
        missing = []
        bar = tqdm(total=len(days), desc=f"{spec.product} metrics", unit="day", disable=None, leave=False)
        for day, metadata in _each_day(spec, days, store, writer, spark, context.run_id, _threads(), options):
            bar.update()
            if isinstance(metadata, SourceMissingError):
                missing.append(day.isoformat())
                metadata = {"datasource": spec.datasource, "source": f"missing: {metadata}", "points": 0}
            for note in metadata.pop("warnings", []):
                context.log.warning(f"{day}: {note}")
            context.add_asset_metadata(metadata, partition_key=day.isoformat())
        bar.close()
        return dg.MaterializeResult(
            metadata={"range": f"{days[0]} .. {days[-1]}", "days": len(days), "days_without_source": len(missing)}
        )

    @dg.asset_check(
        asset=metrics_key(spec),
        name="ge_validation",
        partitions_def=partitions,
        blocking=True,
        required_resource_keys={"store"},
        description="Great Expectations: schema, non-empty, row-count floor and the spec's value ranges.",
    )
    def ge_validation(context: dg.AssetCheckExecutionContext) -> Iterator[Any]:
        days = run_days(context)
        points = context.resources.store.get_store().read_points(
            spec.datasource, start=days[0], end=days[-1], provenance=True
        )
        points = points[points["writer"] == writer].drop(columns=["source", "run_id", "writer"])
        outcomes = validate_days(points, spec, days)
        if len(days) == 1:
            yield dg.AssetCheckResult(
                passed=outcomes[days[0]].passed,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata=_check_metadata(spec, days[0], outcomes[days[0]]),
            )
            return
        # One evaluation per day, each with its own partition. Not blocking as an event: a failed
        # blocking evaluation would fail the step and stop detection for every day of the range;
        # the anomalies asset leaves out exactly the failed days instead (failed_check_days).
        targets = latest_materializations(context.instance, metrics_key(spec), days)
        for day in days:
            outcome = outcomes[day]
            yield dg.AssetCheckEvaluation(
                asset_key=metrics_key(spec),
                check_name="ge_validation",
                passed=outcome.passed,
                metadata=_check_metadata(spec, day, outcome),
                target_materialization_data=targets.get(day.isoformat()),
                severity=dg.AssetCheckSeverity.ERROR,
                blocking=False,
                partition=day.isoformat(),
            )
        # What an AssetCheckResult adds for the check's op output (downstream steps wait on it).
        yield dg.Output(None)

    # The blocking check keeps the cron path's anomalies from running on a failed day; a ranged run
    # leaves its failed days out itself; every failed day stays out of the baselines.
    anomalies = build_anomalies_asset(
        key=anomalies_key(spec),
        deps=[metrics_key(spec)],
        datasource=spec.datasource,
        rules=spec.detect,
        lookback_days=spec.lookback_days,
        partitions=partitions,
        backfill_policy=backfill_policy,
        writer=f"{spec.product}-anomalies",
        failed_days=lambda context, days: failed_check_days(context.instance, check_key, days),
        group_name=spec.product,
        owners=owners,
        op_tags=tags,
        automation_condition=dg.AutomationCondition.eager(),
        description=f"Detector verdicts on {spec.product}'s metrics over a {spec.lookback_days}-day lookback.",
    )

    built: list[Any] = [metrics, ge_validation, anomalies]
    if spec.mlflow is not None:
        built.append(build_mlflow_asset(spec))
    if spec.freshness is not None:
        built.extend(
            dg.build_last_update_freshness_checks(
                assets=[metrics], lower_bound_delta=timedelta(hours=spec.freshness.max_lag_hours)
            )
        )
    return built


def _each_day(
    spec: ProductSpec,
    days: list[date],
    store: Any,
    writer: str,
    spark: Any,
    run_id: str,
    workers: int,
    storage_options: dict[str, Any],
) -> Iterator[tuple[date, dict[str, Any] | SourceMissingError]]:
    """Each day's metadata (or why its source is missing), in order; days computed by ``workers`` threads.

    Threads, not processes: the heavy parts (Parquet reads, DuckDB, Arrow writes) release the GIL,
    and the spec, store and results need no pickling. The days share one DuckDB database (a
    cursor each) instead of opening one per day.
    """
    with DaySources(storage_options=storage_options, spark=spark) as run_sources:
        if spark is None and computes_by_span(spec):
            yield from _each_day_by_span(spec, days, run_sources, store, writer, run_id, workers)
            return

        def one(day: date) -> dict[str, Any] | SourceMissingError:
            try:
                with run_sources.cursor() as sources:
                    return _metrics_day(spec, day, sources, store, writer, run_id)
            except SourceMissingError as err:
                return err

        if workers <= 1 or spark is not None:
            yield from ((day, one(day)) for day in days)
            return
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lupus-day") as pool:
            yield from zip(days, pool.map(one, days), strict=True)


def _each_day_by_span(
    spec: ProductSpec, days: list[date], sources: DaySources, store: Any, writer: str, run_id: str, workers: int
) -> Iterator[tuple[date, dict[str, Any] | SourceMissingError]]:
    """As :func:`_each_day`, with the metrics of a span of days computed at once (assets/range_points.py).

    The points are stored ``WRITE_DAYS`` days per store call (validated and converted once, one
    file per day, each replaced atomically), calls on ``workers`` threads (their fsyncs overlap).
    """
    computed = list(span_points(spec, days, sources))
    found = [(day, result) for day, result in computed if isinstance(result, DayPoints)]
    chunks = [dict(found[n : n + WRITE_DAYS]) for n in range(0, len(found), WRITE_DAYS)]

    def stored(chunk: dict[date, DayPoints]) -> dict[date, Any]:
        frames = {day: result.points for day, result in chunk.items()}
        return store.write_point_days(spec.datasource, frames, writer=writer, source="asset", run_id=run_id)

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="lupus-write") as pool:
        written = {day: result for results in pool.map(stored, chunks) for day, result in results.items()}
    for day, result in computed:
        if isinstance(result, SourceMissingError):
            yield day, result
        else:
            yield day, _day_metadata(spec, result, written[day])


def _threads() -> int:
    """Threads computing the days of a ranged run: ``LUPUS_BACKFILL_THREADS``, default the CPUs (at most 4)."""
    return int(os.environ.get("LUPUS_BACKFILL_THREADS") or min(4, os.cpu_count() or 1))


def _memory_bytes() -> int:
    """Largest day read into memory: ``LUPUS_SOURCE_MEMORY_BYTES`` of files (default 32 MiB; 0: never)."""
    return int(os.environ.get("LUPUS_SOURCE_MEMORY_BYTES") or 32 * 2**20)


def _metrics_day(
    spec: ProductSpec, day: date, sources: DaySources, store: Any, writer: str, run_id: str
) -> dict[str, Any]:
    """Compute and store one day's points (one file, replaced atomically); the day's metadata."""
    # The day's data stays where it is (a lazy DuckDB relation, or Spark); see assets/sources.py.
    engine = sources.engine_of(spec.source)
    # A small day read only by itself (no drift, churn or relevance to combine it with) is read into memory once.
    alone = not (spec.drift or spec.churn or any(task.ranking for task in spec.evaluate))
    data = sources.read(spec.source, day, engine=engine, memory_bytes=_memory_bytes() if alone else 0)
    result = compute_day_points(
        spec,
        data,
        day=day,
        ts=pd.Timestamp(day, tz="UTC"),
        previous=lambda: sources.optional(spec.source, day - timedelta(days=1), engine=engine),
        reference=lambda start, end: sources.optional(spec.source, _days(start, end), engine=engine),
        relevance=lambda task: _relevance(sources, task, day, engine),
        files=sources.files_of(data),
    )
    written = store.write_points(spec.datasource, result.points, day=day, writer=writer, source="asset", run_id=run_id)
    return _day_metadata(spec, result, written)


def _day_metadata(spec: ProductSpec, result: DayPoints, written: Any) -> dict[str, Any]:
    return {
        "datasource": spec.datasource,
        "rows": result.rows,
        "points": written.rows,
        "path": written.path,
        "notes": "\n".join(result.notes) or "none",
        "preview": dg.MetadataValue.md(_preview(result.points)),
        "warnings": result.notes,
    }


def _check_metadata(spec: ProductSpec, day: date, outcome: ValidationOutcome) -> dict[str, Any]:
    # The alert links to the chart of the first metric out of range and groups with their anomalies.
    linked = outcome.alert_metadata()
    return {
        **linked,
        "datasource": spec.datasource,
        "day": day.isoformat(),
        "expectations": outcome.evaluated,
        "failed_expectations": "\n".join(outcome.failures) or "none",
    }


def _spark(context: dg.AssetExecutionContext) -> Any:
    return context.resources.pyspark.spark_session


def _reads_s3(spec: ProductSpec) -> bool:
    """True when the source or a ranking's relevance source is on S3 (the asset then uses the ``s3`` resource)."""
    relevance = [task.ranking.relevance.source for task in spec.evaluate if task.ranking is not None]
    return any(source.on_s3 for source in [spec.source, *relevance])


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _relevance(sources: DaySources, task: EvaluationTask, day: date, engine: str) -> Any:
    relevance = task.ranking.relevance
    try:
        data = sources.read(relevance.source, day, engine=engine)
    except SourceMissingError as err:
        raise dg.Failure(description=f"ranking relevance source missing: {err}") from err
    except SourceAccessError as err:
        raise dg.Failure(description=f"ranking relevance source not readable: {err}") from None
    columns = {"user": "user", "item": "item", "relevance": "relevance", **relevance.columns}
    return select_columns(data, {name: columns[name] for name in ("user", "item", "relevance")})


def _preview(points: pd.DataFrame) -> str:
    overall = points[points["labels"].map(lambda labels: not labels)].head(PREVIEW_ROWS)
    lines = ["| metric | value |", "|---|---|"]
    lines += [f"| {m} | {v:.6g} |" for m, v in zip(overall["metric"], overall["value"], strict=True)]
    return "\n".join(lines)
