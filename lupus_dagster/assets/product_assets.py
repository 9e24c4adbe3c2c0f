"""The asset factory: one ProductSpec -> metrics asset, GX check, anomalies asset, freshness check.

Keys are ``[<product>, "metrics"]`` and ``[<product>, "anomalies"]``, grouped by product,
owned by the team. Resources are looked up by key (``store``, and ``pyspark`` for Spark
sources), so the same factory serves every product.
"""

from datetime import date, timedelta
from typing import Any

import dagster as dg
import pandas as pd

from lupus_dagster.assets.mlflow_metrics import build_mlflow_asset
from lupus_dagster.assets.product_points import compute_day_points, select_columns
from lupus_dagster.assets.sources import DaySources, SourceAccessError, SourceMissingError, s3_storage_options
from lupus_dagster.assets.validation import validate_day
from lupus_dagster.product_spec import EvaluationTask, ProductSpec
from lupus_store.detection import detect_and_store

PREVIEW_ROWS = 12


def metrics_key(spec: ProductSpec) -> dg.AssetKey:
    return dg.AssetKey([spec.product, "metrics"])


def anomalies_key(spec: ProductSpec) -> dg.AssetKey:
    return dg.AssetKey([spec.product, "anomalies"])


def partitions_for(spec: ProductSpec) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(
        start_date=spec.partitions.start.isoformat(), timezone=spec.partitions.timezone
    )


def pod_tags(spec: ProductSpec) -> dict[str, Any]:
    """`dagster-k8s/config` op tags carrying the spec's pod resources (used by the k8s executor)."""
    wanted = {k: v for k, v in (("cpu", spec.resources.cpu), ("memory", spec.resources.memory)) if v}
    if not wanted:
        return {}
    return {"dagster-k8s/config": {"container_config": {"resources": {"requests": wanted, "limits": wanted}}}}


def build_product_assets(spec: ProductSpec) -> list[Any]:
    """Assets and checks of one product (the alert sensor is added by the component)."""
    partitions = partitions_for(spec)
    owners = [f"team:{spec.team}"]
    tags = pod_tags(spec)
    needs = {"store", "pyspark"} if spec.source.kind == "spark_table" else {"store"}
    if _reads_s3(spec):
        needs.add("s3")
    writer = f"{spec.product}-metrics"

    @dg.asset(
        key=metrics_key(spec),
        partitions_def=partitions,
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
        day = date.fromisoformat(context.partition_key)
        spark = _spark(context) if "pyspark" in needs else None
        options = s3_storage_options(context.resources.s3 if "s3" in needs else None)
        # The day's data stays where it is (a lazy DuckDB relation, or Spark); see assets/sources.py.
        with DaySources(storage_options=options, spark=spark) as sources:
            engine = sources.engine_of(spec.source)
            try:
                data = sources.read(spec.source, day, engine=engine)
            except SourceMissingError as err:
                # Fail the partition loudly: an empty metrics file would look like a fine day.
                raise dg.Failure(description=f"{spec.product} {day}: source missing: {err}") from err
            except SourceAccessError as err:
                raise dg.Failure(description=f"{spec.product} {day}: source not readable: {err}") from None
            result = compute_day_points(
                spec,
                data,
                day=day,
                ts=pd.Timestamp(day, tz="UTC"),
                previous=lambda: sources.optional(spec.source, day - timedelta(days=1), engine=engine),
                reference=lambda start, end: sources.optional(spec.source, _days(start, end), engine=engine),
                relevance=lambda task: _relevance(sources, task, day, engine),
            )
        written = context.resources.store.get_store().write_points(
            spec.datasource, result.points, day=day, writer=writer, source="asset", run_id=context.run_id
        )
        for note in result.notes:
            context.log.warning(note)
        return dg.MaterializeResult(
            metadata={
                "datasource": spec.datasource,
                "rows": result.rows,
                "points": written.rows,
                "path": written.path,
                "notes": "\n".join(result.notes) or "none",
                "preview": dg.MetadataValue.md(_preview(result.points)),
            }
        )

    @dg.asset_check(
        asset=metrics_key(spec),
        name="ge_validation",
        partitions_def=partitions,
        blocking=True,
        required_resource_keys={"store"},
        description="Great Expectations: schema, non-empty, row-count floor and the spec's value ranges.",
    )
    def ge_validation(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        day = date.fromisoformat(context.partition_key)
        points = context.resources.store.get_store().read_points(
            spec.datasource, start=day, end=day, provenance=True
        )
        points = points[(points["writer"] == writer) & (points["ts"].dt.date == day)]
        outcome = validate_day(points.drop(columns=["source", "run_id", "writer"]), spec)
        # The alert links to the chart of the first metric out of range.
        linked = {"metric": outcome.failed_metrics[0]} if outcome.failed_metrics else {}
        return dg.AssetCheckResult(
            passed=outcome.passed,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                **linked,
                "datasource": spec.datasource,
                "day": day.isoformat(),
                "expectations": outcome.evaluated,
                "failed_expectations": "\n".join(outcome.failures) or "none",
            },
        )

    @dg.asset(
        key=anomalies_key(spec),
        deps=[metrics_key(spec)],
        partitions_def=partitions,
        group_name=spec.product,
        owners=owners,
        kinds={"python", "parquet"},
        op_tags=tags,
        required_resource_keys={"store"},
        automation_condition=dg.AutomationCondition.eager(),
        description=f"Detector verdicts on {spec.product}'s metrics over a {spec.lookback_days}-day lookback.",
        metadata={"datasource": spec.datasource},
    )
    def anomalies(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        day = date.fromisoformat(context.partition_key)
        report = detect_and_store(
            context.resources.store.get_store(),
            spec.datasource,
            spec.detect,
            start=day,
            end=day,
            writer=f"{spec.product}-anomalies",
            lookback_days=spec.lookback_days,
            run_id=context.run_id,
            workers=1,
        )
        for error in report.errors:
            context.log.warning(f"detection failed for {error}")
        return dg.MaterializeResult(
            metadata={
                "datasource": spec.datasource,
                "evaluated": report.evaluated,
                "anomalies": report.anomalies,
                "anomalies_by_metric": report.by_metric,
                "failed_series": len(report.errors),
            }
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
