"""Renders a :class:`ProfilePlan` as Spark SQL Column expressions and runs it on a PySpark DataFrame.

Same plan as the DuckDB engine, rendered with ``pyspark.sql.functions``. Two stats may be
approximate here, as set in ``ProfileSpec.spark`` (:class:`~lupus_metrics.stats.spec.SparkOptions`):

- quantiles use ``percentile_approx`` with ``quantile_accuracy`` (default 10000): the
  returned value is an element of the group whose rank is within ``count / accuracy`` of
  the exact rank (it does not interpolate between two values);
- ``distinct_count`` is exact (``count(DISTINCT)``) unless ``distinct="approx"``, which uses
  ``approx_count_distinct`` (HyperLogLog++) with relative standard deviation ``distinct_rsd``.
"""

from __future__ import annotations

from typing import Any

from pyspark.errors import AnalysisException, ParseException
from pyspark.sql import Window
from pyspark.sql import functions as sf
from pyspark.sql import types as st

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.stats.column_types import ColumnType
from lupus_metrics.stats.plan import ProfilePlan, TopK, Value
from lupus_metrics.stats.points import EngineResult, group_columns
from lupus_metrics.stats.spec import SparkOptions

_CASTS = {
    "numeric": "double",
    "string": "string",
    "boolean": "boolean",
    "datetime": "timestamp",
    "array": "array<string>",
}


class SparkEngine:
    """One profile run over a PySpark DataFrame; the Spark session does the work."""

    def __init__(self, data: Any, options: SparkOptions):
        self._df = data
        self._options = options

    def __enter__(self) -> SparkEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def schema(self) -> dict[str, ColumnType]:
        """Column -> kind, from the DataFrame's schema (no data is read)."""
        return {f.name: ColumnType.of_spark(f.dataType) for f in self._df.schema.fields}

    def run(self, plan: ProfilePlan) -> EngineResult:
        """Execute the plan: one grouping-sets aggregation, one ranked count per top-k column."""
        source = self._df
        for column, kind in plan.casts.items():
            source = source.withColumn(column, _col(column).cast(_CASTS[kind]))
        if plan.filter:
            try:
                source = source.filter(sf.expr(plan.filter))
            except (AnalysisException, ParseException) as err:
                raise LupusValidationError(
                    "profile.filter", f"Spark rejects the filter: {err}", value=plan.filter
                ) from None
        if plan.sample_fraction is not None:
            source = source.sample(withReplacement=False, fraction=plan.sample_fraction, seed=plan.sample_seed)
        scalars = self._scalars(plan, source).toPandas()
        topks = {t.column: _topk(plan, t, source).toPandas() for t in plan.topks}
        return EngineResult(scalars, topks)

    def _scalars(self, plan: ProfilePlan, source: Any) -> Any:
        groups = group_columns(plan)
        projected = source.select(
            *[_col(c).cast("string").alias(g) for c, g in zip(plan.group_by, groups, strict=True)],
            *[render_value(v, source).alias(alias) for alias, v in plan.values.items()],
        )
        aggregates = [self._aggregate(a.fn, a.value, a.params).alias(alias)
                      for alias, a in zip(plan.aggregate_aliases(), plan.aggregates, strict=True)]  # fmt: skip
        if not groups:
            return projected.agg(*aggregates).select(sf.lit(1).alias("gid"), "*")
        return projected.groupingSets([groups, []], *groups).agg(sf.grouping_id().alias("gid"), *aggregates)

    def _aggregate(self, fn: str, value: str | None, params: tuple[float, ...]) -> Any:
        if fn == "count_rows":
            return sf.count(sf.lit(1)).cast("double")
        column = sf.col(value or "")
        if fn == "quantiles":
            return sf.percentile_approx(column, list(params), self._options.quantile_accuracy).cast("array<double>")
        if fn == "count_distinct" and self._options.distinct == "approx":
            return sf.approx_count_distinct(column, self._options.distinct_rsd).cast("double")
        functions = {
            "count": sf.count, "sum": sf.sum, "mean": sf.avg, "std": sf.stddev_samp,
            "min": sf.min, "max": sf.max, "count_distinct": sf.count_distinct,
        }  # fmt: skip
        return functions[fn](column).cast("double")


def _topk(plan: ProfilePlan, topk: TopK, source: Any) -> Any:
    groups = group_columns(plan)
    value = sf.explode(_col(topk.column)) if topk.elements else _col(topk.column)
    # A generator (explode) cannot sit inside a cast: explode first, cast in a second projection.
    src = source.select(
        *[_col(c).cast("string").alias(g) for c, g in zip(plan.group_by, groups, strict=True)], value.alias("v")
    )
    src = src.withColumn("v", sf.col("v").cast("string")).where(sf.col("v").isNotNull())
    if groups:
        counted = src.groupingSets([[*groups, "v"], ["v"]], *groups, "v").agg(
            sf.grouping_id().alias("gid"), sf.count(sf.lit(1)).alias("n")
        )
    else:
        counted = src.groupBy("v").agg(sf.count(sf.lit(1)).alias("n")).withColumn("gid", sf.lit(1))
    partition = Window.partitionBy("gid", *groups)
    ranked = counted.withColumn("rank", sf.row_number().over(partition.orderBy(sf.desc("n"), sf.asc("v"))))
    ranked = ranked.withColumn("total", sf.sum("n").over(partition))
    return ranked.where(sf.col("rank") <= int(topk.k)).select("gid", *groups, "v", "n", "rank", "total")


def render_value(value: Value, source: Any) -> Any:
    """Spark Column of a :class:`Value` (``source`` gives the column's type, for datetimes)."""
    column = _col(value.column)
    data_type = source.schema[value.column].dataType
    for op in value.ops:
        if op == "nan_to_null":
            column = sf.nanvl(column, sf.lit(None).cast("double"))
        elif op == "to_double":
            column = column.cast("double")
        elif op == "str_length":
            column = sf.length(column)
        elif op == "array_length":
            column = sf.when(column.isNotNull(), sf.size(column))
        elif op == "epoch_seconds":
            if isinstance(data_type, st.DateType):
                column = sf.unix_date(column).cast("double") * 86400.0
            else:
                column = sf.unix_micros(column.cast("timestamp")).cast("double") / 1e6
        elif op == "equals_zero":
            column = (column == 0).cast("double")
        else:
            raise AssertionError(f"value op {op!r} has no Spark rendering")
    return column


def _col(name: str) -> Any:
    return sf.col("`" + name.replace("`", "``") + "`")
