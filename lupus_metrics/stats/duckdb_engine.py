"""Renders a :class:`ProfilePlan` as DuckDB SQL and runs it over a pandas DataFrame or Arrow table.

The input is registered on an in-memory connection (a zero-copy scan of the
pandas/Arrow buffers); no pandas groupby is involved. Everything is exact:
``quantile_cont`` (linear interpolation, numpy's default) and ``count(DISTINCT)``.

Example:
    >>> import pandas as pd
    >>> with DuckDBEngine(pd.DataFrame({"x": [1.0, None, 3.0]})) as engine:
    ...     engine.schema()["x"]
    ColumnType(kind='numeric', floating=True)
"""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.stats.column_types import ColumnType
from lupus_metrics.stats.plan import ProfilePlan, TopK, Value
from lupus_metrics.stats.points import EngineResult, group_columns

_INPUT = "lupus_input"
_SAMPLE = "lupus_sample"

_OPS = {
    "nan_to_null": "CASE WHEN isnan({}) THEN NULL ELSE {} END",
    "to_double": "CAST({} AS DOUBLE)",
    "str_length": "length({})",
    "array_length": "len({})",
    "epoch_seconds": "epoch_us(CAST({} AS TIMESTAMPTZ)) / 1e6",
    "equals_zero": "CAST({} = 0 AS DOUBLE)",
}
_CASTS = {"numeric": "DOUBLE", "string": "VARCHAR", "boolean": "BOOLEAN", "datetime": "TIMESTAMPTZ", "array": "VARCHAR[]"}
_AGGS = {
    "count_rows": "count(*)",
    "count": "count({})",
    "sum": "sum({})",
    "mean": "avg({})",
    "std": "stddev_samp({})",
    "min": "min({})",
    "max": "max({})",
    "count_distinct": "count(DISTINCT {})",
}


class DuckDBEngine:
    """One profile run over ``data`` (pandas DataFrame or pyarrow Table) on a private connection."""

    def __init__(self, data: Any):
        self._con = duckdb.connect()
        # TIMESTAMPTZ casts and epochs must not depend on the machine's timezone.
        self._con.execute("SET TimeZone = 'UTC'")
        self._con.register(_INPUT, data)

    def __enter__(self) -> DuckDBEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self._con.close()

    def schema(self) -> dict[str, ColumnType]:
        """Column -> kind, from DuckDB's reading of the input (no rows are aggregated)."""
        relation = self._con.table(_INPUT)
        return {name: ColumnType.of_duckdb(str(t)) for name, t in zip(relation.columns, relation.types, strict=True)}

    def run(self, plan: ProfilePlan) -> EngineResult:
        """Execute the plan: one grouping-sets query for the aggregates, one query per top-k column."""
        source = self._source(plan)
        try:
            scalars = self._con.execute(scalar_sql(plan, source)).df()
            topks = {t.column: self._con.execute(topk_sql(plan, t, source)).df() for t in plan.topks}
        except duckdb.ParserException as err:
            raise LupusValidationError("profile.filter", f"DuckDB cannot parse the query: {err}", value=plan.filter) from None
        except duckdb.BinderException as err:
            raise LupusValidationError("profile.filter", f"DuckDB rejects the query: {err}", value=plan.filter) from None
        return EngineResult(scalars, topks)

    def _source(self, plan: ProfilePlan) -> str:
        where = f" WHERE ({plan.filter})" if plan.filter else ""
        columns = "*"
        if plan.casts:
            casts = ", ".join(f"CAST({_ident(c)} AS {_CASTS[k]}) AS {_ident(c)}" for c, k in plan.casts.items())
            columns = f"* REPLACE ({casts})"
        if plan.sample_fraction is None:
            return f"(SELECT {columns} FROM {_INPUT}{where})"
        # Materialised once so the aggregate and top-k queries see the same sample.
        seed = "" if plan.sample_seed is None else f", {int(plan.sample_seed)}"
        self._con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_SAMPLE} AS SELECT {columns} FROM {_INPUT}{where} "
            f"USING SAMPLE {plan.sample_fraction * 100!r}% (bernoulli{seed})"
        )
        return _SAMPLE


def scalar_sql(plan: ProfilePlan, source: str) -> str:
    """The aggregate query: one row per group and one for the overall group."""
    groups = group_columns(plan)
    projection = [f"CAST({_ident(c)} AS VARCHAR) AS {g}" for c, g in zip(plan.group_by, groups, strict=True)]
    projection += [f"{render_value(v)} AS {alias}" for alias, v in plan.values.items()]
    aggregates = [f"{_render_aggregate(a.fn, a.value, a.params)} AS {alias}"
                  for alias, a in zip(plan.aggregate_aliases(), plan.aggregates, strict=True)]  # fmt: skip
    if not groups:
        return f"SELECT 1 AS gid, {', '.join(aggregates)} FROM (SELECT {', '.join(projection) or '1'} FROM {source})"
    keys = ", ".join(groups)
    return (
        f"SELECT GROUPING({keys}) AS gid, {keys}, {', '.join(aggregates)} "
        f"FROM (SELECT {', '.join(projection)} FROM {source}) GROUP BY GROUPING SETS (({keys}), ())"
    )


def topk_sql(plan: ProfilePlan, topk: TopK, source: str) -> str:
    """Value counts per group, ranked by count descending then value ascending, first K kept."""
    groups = group_columns(plan)
    column = _ident(topk.column)
    value = f"unnest({column})" if topk.elements else column
    projection = [f"CAST({_ident(c)} AS VARCHAR) AS {g}" for c, g in zip(plan.group_by, groups, strict=True)]
    projection.append(f"CAST({value} AS VARCHAR) AS v")
    keys = ", ".join(groups)
    if groups:
        counted = (f"SELECT GROUPING({keys}) AS gid, {keys}, v, count(*) AS n FROM src WHERE v IS NOT NULL "
                   f"GROUP BY GROUPING SETS (({keys}, v), (v))")  # fmt: skip
        partition = f"PARTITION BY gid, {keys}"
    else:
        counted = "SELECT 1 AS gid, v, count(*) AS n FROM src WHERE v IS NOT NULL GROUP BY v"
        partition = "PARTITION BY gid"
    return (
        f"WITH src AS (SELECT {', '.join(projection)} FROM {source}), counted AS ({counted}), "
        f"ranked AS (SELECT *, row_number() OVER ({partition} ORDER BY n DESC, v ASC) AS rank, "
        f"sum(n) OVER ({partition}) AS total FROM counted) "
        f"SELECT * FROM ranked WHERE rank <= {int(topk.k)}"
    )


def render_value(value: Value) -> str:
    """SQL of a :class:`Value`.

    >>> render_value(Value("my col", ("str_length", "equals_zero")))
    'CAST(length("my col") = 0 AS DOUBLE)'
    """
    sql = _ident(value.column)
    for op in value.ops:
        sql = _OPS[op].format(sql, sql)
    return sql


def _render_aggregate(fn: str, value: str | None, params: tuple[float, ...]) -> str:
    if fn == "quantiles":
        return f"quantile_cont({value}, [{', '.join(repr(q) for q in params)}])"
    return f"CAST({_AGGS[fn].format(value)} AS DOUBLE)"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def duckdb_input(data: Any) -> Any:
    """``data`` if DuckDB can scan it as-is (pandas DataFrame, pyarrow Table), else a validation error."""
    import pyarrow as pa

    if isinstance(data, (pd.DataFrame, pa.Table)):
        return data
    raise LupusValidationError("df", "must be a pandas DataFrame, a pyarrow Table or a PySpark DataFrame", value=type(data).__name__)
