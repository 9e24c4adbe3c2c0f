"""Renders a :class:`ProfilePlan` as DuckDB SQL and runs it over a DataFrame, an Arrow table or a DuckDB relation.

A pandas DataFrame or Arrow table is registered on a private connection (a zero-copy scan of
its buffers); a DuckDB relation (e.g. a day's Parquet files read lazily, on S3 or on disk) is
queried on its own connection, so its rows never come into Python. Everything is exact, in
memory DuckDB can bound and spill:

- the streaming aggregates (counts, sums, means, standard deviations, min, max) in one
  grouping-sets query;
- quantiles and distinct counts from the counts of the distinct values of each column and
  group (a hash aggregate and a window over the sorted values, both spillable), instead of
  ``quantile_cont`` and ``count(DISTINCT)``, which hold every value in memory;
  quantiles are the order statistics at ranks ⌊h⌋ and ⌊h⌋ + 1 interpolated as numpy does;
- top-k by a ranked count per group.

Over a scan of Parquet files (:class:`~lupus_metrics.stats.parquet_files.ParquetFiles`, as a
product's day is read) the counts behind the top-k of text and list columns, and behind the
quantiles, distinct counts and moments of numeric columns, are taken from the files in one pass
instead (:mod:`lupus_metrics.stats.parquet_counts`), once the SQL is done; the statistics are then
computed from those counts by the same SQL (:func:`value_counts_sql` over a table of counts,
:func:`listed_topk`), so both ways give the same points.

Example:
    >>> import pandas as pd
    >>> with DuckDBEngine(pd.DataFrame({"x": [1.0, None, 3.0]})) as engine:
    ...     engine.schema()["x"]
    ColumnType(kind='numeric', floating=True)
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.sql.ecdf import quantile_value
from lupus_metrics.sql.tables import float_literal, in_memory_cursor
from lupus_metrics.stats.column_types import ColumnType
from lupus_metrics.stats.parquet_counts import ColumnCounts, PreparedCounts, prepare_counts
from lupus_metrics.stats.parquet_files import ParquetFiles
from lupus_metrics.stats.parquet_list_counts import ListCounts
from lupus_metrics.stats.parquet_value_counts import ValueCounts
from lupus_metrics.stats.plan import COUNTING_FNS, Aggregate, ProfilePlan, TopK, Value
from lupus_metrics.stats.points import EngineResult, group_columns

_INPUT = "lupus_input"
#: Aggregates that need every value of a group: computed from the counts of its distinct values.
_HOLISTIC = frozenset({"quantiles", "count_distinct"})

_OPS = {
    "nan_to_null": "CASE WHEN isnan({}) THEN NULL ELSE {} END",
    "to_double": "CAST({} AS DOUBLE)",
    "str_length": "length({})",
    "array_length": "len({})",
    "epoch_seconds": "epoch_us(CAST({} AS TIMESTAMPTZ)) / 1e6",
    "equals_zero": "CAST({} = 0 AS DOUBLE)",
}
_CASTS = {
    "numeric": "DOUBLE",
    "string": "VARCHAR",
    "boolean": "BOOLEAN",
    "datetime": "TIMESTAMPTZ",
    "array": "VARCHAR[]",
}
_AGGS = {
    "count_rows": "count(*)",
    "count": "count({})",
    "sum": "sum({})",
    "mean": "avg({})",
    "std": "stddev_samp({})",
    "min": "min({})",
    "max": "max({})",
}


class DuckDBEngine:
    """One profile run over ``data``: a pandas DataFrame or pyarrow Table (on a private connection)
    or a DuckDB relation (on its own connection). ``files``: the Parquet files the relation scans
    as-is, if it does; list columns are then counted from their dictionary codes."""

    def __init__(self, data: Any, files: ParquetFiles | None = None):
        self._files = files if _is_relation(data) else None
        self._con: duckdb.DuckDBPyConnection | None = None
        self._temp: list[str] = []
        if _is_relation(data):
            self._relation = data
            self._execute: Callable[[str], Any] = lambda sql: data.query(_INPUT, sql)
            # Naive timestamps are UTC for Lupus: epochs must not depend on the connection's zone.
            self._execute("SET TimeZone = 'UTC'")
        else:
            self._con = in_memory_cursor()
            # TIMESTAMPTZ casts and epochs must not depend on the machine's timezone.
            self._con.execute("SET TimeZone = 'UTC'")
            self._con.register(_INPUT, data)
            self._relation = self._con.table(_INPUT)
            self._execute = self._con.execute

    def __enter__(self) -> DuckDBEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        for table in self._temp:
            self._execute(f"DROP TABLE IF EXISTS {table}")
        if self._con is not None:
            self._con.close()

    def schema(self) -> dict[str, ColumnType]:
        """Column -> kind, from DuckDB's reading of the input (no rows are aggregated)."""
        relation = self._relation
        return {name: ColumnType.of_duckdb(str(t)) for name, t in zip(relation.columns, relation.types, strict=True)}

    def run(self, plan: ProfilePlan) -> EngineResult:
        """Execute the plan: the streaming aggregates, a count per distinct value, a ranked count per top-k column."""
        listed = self._listed_columns(plan)
        try:
            source = self._source(plan)
            counted = counted_aggregates(plan)
            served = _served_counts(plan, set(listed))
            hashed = self._hashed_columns(plan, counted)
            streaming = set(counted) | set(served)
            only_rows = all(a.fn == "count_rows" for a in _streaming(plan, streaming).values())
            prepared = self._prepare_counts(plan, listed, set(hashed.values()), only_rows)
            # SQL first; the counts taken from the files follow, once the SQL has left the cores free.
            topks = {t.column: self._query(topk_sql(plan, t, source)) for t in plan.topks if t.column not in listed}
            sql_counted = [
                (aggregates, self._query(value_counts_sql(plan, alias, aggregates, source)))
                for alias, aggregates in counted.items()
                if alias not in hashed and _topk_counting(plan, alias, aggregates) is None
            ]
            rows_from_files = prepared is not None and prepared.rows
            scalars = None if rows_from_files else self._query(scalar_sql(plan, source, exclude=streaming))
            from_files = (prepared.run(self._threads()) if prepared else None) or ColumnCounts({}, {})
            if scalars is None:  # only rows per group were asked of SQL: the files counted them
                rows = from_files.rows
                scalars = (_rows_scalars(plan, rows, _streaming(plan, streaming)) if rows is not None
                           else self._query(scalar_sql(plan, source, exclude=streaming)))  # fmt: skip
            for aggregates, found in sql_counted:
                scalars = _merge_counted(plan, scalars, found, aggregates)
            for topk in (t for t in plan.topks if t.column in listed):
                scalars = self._listed(plan, topk, source, served, topks, scalars, from_files.texts.get(topk.column))
            for alias, column in hashed.items():
                counts = from_files.numbers.get(column)
                if counts is None:  # not countable from the files after all (see parquet_counts)
                    found = self._query(value_counts_sql(plan, alias, counted[alias], source))
                else:
                    found = _from_counts(plan, alias, counted[alias], counts)
                scalars = _merge_counted(plan, scalars, found, counted[alias])
            for alias, aggregates in counted.items():
                topk = _topk_counting(plan, alias, aggregates)
                if topk is not None:  # the top-k step already counted this column's distinct values
                    scalars = _merge_counted(plan, scalars, _counts_from_topk(plan, topks[topk.column]), aggregates)
        except duckdb.ParserException as err:
            raise LupusValidationError(
                "profile.filter", f"DuckDB cannot parse the query: {err}", value=plan.filter
            ) from None
        except duckdb.BinderException as err:
            raise LupusValidationError(
                "profile.filter", f"DuckDB rejects the query: {err}", value=plan.filter
            ) from None
        return EngineResult(scalars, topks)

    def _listed(self, plan: ProfilePlan, topk: TopK, source: str, served: dict[str, tuple[str, list[str]]],
                topks: dict[str, pd.DataFrame], scalars: pd.DataFrame, counts: ListCounts | None) -> pd.DataFrame:  # fmt: skip
        """The top-k of a text or list column from its counts taken out of the files (into ``topks``), and the
        scalars with the list's counts it serves; the SQL path if the files could not count it."""
        aliases = {alias: aggregates for alias, (column, aggregates) in served.items() if column == topk.column}
        if counts is not None:
            topks[topk.column] = listed_topk(plan, topk, counts)
            for aggregates in aliases.values():
                scalars = _merge_list_counts(plan, scalars, aggregates, counts)
            return scalars
        topks[topk.column] = self._query(topk_sql(plan, topk, source))
        for alias, aggregates in aliases.items():
            only = scalar_sql(plan, source, exclude=set(plan.values) - {alias})
            scalars = _merge_scalars(plan, scalars, self._query(only), aggregates)
        return scalars

    def _listed_columns(self, plan: ProfilePlan) -> set[str]:
        """The text and list columns whose top-k may be counted from the files' dictionary codes (no cast);
        :func:`prepare_counts` checks the files themselves."""
        if not self._scans_files(plan):
            return set()
        return {t.column for t in plan.topks if t.column not in plan.casts}

    def _scans_files(self, plan: ProfilePlan) -> bool:
        """Whether the plan reads the files as they are: counts may then come from them (no filter, sample, or
        cast of a group column)."""
        if self._files is None or plan.filter or plan.sample_fraction is not None:
            return False
        return not any(g in plan.casts for g in plan.group_by)

    def _prepare_counts(
        self, plan: ProfilePlan, texts: set[str], numbers: set[str], rows: bool
    ) -> PreparedCounts | None:
        """The counts the files can give of ``texts`` and ``numbers`` (and of the rows per group, if ``rows`` is all
        the streaming query would compute besides), ready to run; their compiled loops start loading in a thread
        now, so that the SQL queries, not the cores' idle time, hide it."""
        if not (texts or numbers) or not self._scans_files(plan):
            return None
        assert self._files is not None
        prepared = prepare_counts(self._files, plan.group_by, texts=sorted(texts), numbers=sorted(numbers), rows=rows)
        if prepared is not None:
            threading.Thread(target=prepared.load, name="lupus-load-count-loops", daemon=True).start()
        return prepared

    def _hashed_columns(self, plan: ProfilePlan, counted: dict[str, list[tuple[str, Aggregate]]]) -> dict[str, str]:
        """Per counted value alias that may be counted from the files' numbers (a column as it is, NaN as null):
        its column, if not cast; :func:`prepare_counts` checks the files themselves."""
        if not self._scans_files(plan):
            return {}
        out = {}
        for alias, aggregates in counted.items():
            value = plan.values[alias]
            plain = value.ops in ((), ("nan_to_null",)) and value.column not in plan.casts
            if plain and _topk_counting(plan, alias, aggregates) is None:
                out[alias] = value.column
        return out

    def _threads(self) -> int:
        """As many threads as DuckDB may use: the counts from the files run after the SQL, on free cores."""
        return int(self._execute("SELECT current_setting('threads')").fetchall()[0][0])

    def _query(self, sql: str) -> pd.DataFrame:
        return self._execute(sql).df()

    def _source(self, plan: ProfilePlan) -> str:
        where = f" WHERE ({plan.filter})" if plan.filter else ""
        columns = "*"
        if plan.casts:
            casts = ", ".join(f"CAST({_ident(c)} AS {_CASTS[k]}) AS {_ident(c)}" for c, k in plan.casts.items())
            columns = f"* REPLACE ({casts})"
        if plan.sample_fraction is None:
            return f"(SELECT {columns} FROM {_INPUT}{where})"
        # Materialised once so every query sees the same sample.
        seed = "" if plan.sample_seed is None else f", {int(plan.sample_seed)}"
        table = f"lupus_sample_{uuid.uuid4().hex[:12]}"
        self._execute(
            f"CREATE TEMP TABLE {table} AS SELECT {columns} FROM {_INPUT}{where} "
            f"USING SAMPLE {plan.sample_fraction * 100!r}% (bernoulli{seed})"
        )
        self._temp.append(table)
        return table


def _is_relation(data: Any) -> bool:
    return type(data).__module__.startswith("duckdb") and type(data).__name__ == "DuckDBPyRelation"


def _projection(plan: ProfilePlan, values: list[str] | None = None) -> list[str]:
    groups = group_columns(plan)
    projection = [f"CAST({_ident(c)} AS VARCHAR) AS {g}" for c, g in zip(plan.group_by, groups, strict=True)]
    return projection + [
        f"{render_value(v)} AS {alias}" for alias, v in plan.values.items() if values is None or alias in values
    ]


def _streaming(plan: ProfilePlan, exclude: set[str]) -> dict[str, Aggregate]:
    """The aggregates :func:`scalar_sql` computes, by alias."""
    return {
        alias: a
        for alias, a in zip(plan.aggregate_aliases(), plan.aggregates, strict=True)
        if a.fn not in _HOLISTIC and a.value not in exclude
    }


def _rows_scalars(
    plan: ProfilePlan, rows: dict[tuple[str | None, ...], int], aggregates: dict[str, Aggregate]
) -> pd.DataFrame:
    """What :func:`scalar_sql` returns when its only aggregates are rows per group, from rows counted elsewhere."""
    groups = group_columns(plan)
    total = float(sum(rows.values()))
    keyed = [(0, key, float(n)) for key, n in rows.items()] if groups else []
    keyed.append(((1 << len(groups)) - 1 if groups else 1, (None,) * len(groups), total))
    columns: dict[str, Any] = {"gid": [gid for gid, _, _ in keyed]}
    for j, group in enumerate(groups):
        columns[group] = pd.Series([key[j] for _, key, _ in keyed], dtype=object)
    for alias in aggregates:
        columns[alias] = [n for _, _, n in keyed]
    if not aggregates:
        columns["one"] = 1
    return pd.DataFrame(columns)


def scalar_sql(plan: ProfilePlan, source: str, exclude: set[str] | frozenset[str] = frozenset()) -> str:
    """The streaming aggregates: one row per group and one for the overall group.

    Holistic aggregates are left out, and so is every aggregate of a value in ``exclude`` (values
    whose aggregates come from their counts of distinct values, :func:`value_counts_sql`).
    """
    groups = group_columns(plan)
    streaming = list(_streaming(plan, set(exclude)).items())
    needed = sorted({a.value for _, a in streaming if a.value is not None})
    projection = _projection(plan, needed)
    aggregates = [f"{_render_aggregate(a.fn, a.value)} AS {alias}" for alias, a in streaming] or ["1 AS one"]
    if not groups:
        return f"SELECT 1 AS gid, {', '.join(aggregates)} FROM (SELECT {', '.join(projection) or '1'} FROM {source})"
    keys = ", ".join(groups)
    return (
        f"SELECT GROUPING({keys}) AS gid, {keys}, {', '.join(aggregates)} "
        f"FROM (SELECT {', '.join(projection)} FROM {source}) GROUP BY GROUPING SETS (({keys}), ())"
    )


def counted_aggregates(plan: ProfilePlan) -> dict[str, list[tuple[str, Aggregate]]]:
    """Per projected value that has a holistic aggregate (quantiles, distinct count): all its aggregates, with aliases.

    Those values are counted per distinct value and group anyway; their streaming aggregates
    (count, sum, mean, std, min, max) are computed from the same counts rather than in the
    streaming query: a pass over the rows costs more than the whole counted table, which holds
    one row per distinct value and group.
    """
    holistic = {a.value for a in plan.aggregates if a.fn in _HOLISTIC and a.value is not None}
    out: dict[str, list[tuple[str, Aggregate]]] = {}
    for alias, aggregate in zip(plan.aggregate_aliases(), plan.aggregates, strict=True):
        if aggregate.value in holistic:
            out.setdefault(aggregate.value, []).append((alias, aggregate))  # type: ignore[arg-type]
    return out


def value_counts_sql(
    plan: ProfilePlan, value: str, aggregates: list[tuple[str, Aggregate]], source: str, counted_table: str = ""
) -> str:
    """Per group, from the counts of the distinct values of ``value``: their number, the order statistics its
    quantiles need, and its other aggregates (sum and moments weighted by the counts; the standard deviation
    in two passes over the counted values, around the group's mean).

    ``counted_table``: a table of those counts already taken (``gid, g*, v, c``, as
    :func:`counted_frame` builds), instead of counting ``source``.
    """
    groups = group_columns(plan)
    keys = ", ".join(groups)
    partition = f"PARTITION BY gid{', ' + keys if keys else ''}"
    inner = f"SELECT {', '.join(_projection(plan, [value]))} FROM {source}"
    if counted_table:
        counted = f"SELECT * FROM {counted_table}"
    elif groups:
        counted = (f"SELECT GROUPING({keys}) AS gid, {keys}, {value} AS v, count(*) AS c FROM ({inner}) "
                   f"WHERE {value} IS NOT NULL GROUP BY GROUPING SETS (({keys}, {value}), ({value}))")  # fmt: skip
    else:
        counted = (
            f"SELECT 1 AS gid, {value} AS v, count(*) AS c FROM ({inner}) WHERE {value} IS NOT NULL GROUP BY {value}"
        )
    fns = {a.fn for _, a in aggregates}
    quantiles = [q for _, a in aggregates if a.fn == "quantiles" for q in a.params]
    picks = ["count(*) AS distinct_values", "max(n) AS n"]
    for i, q in enumerate(quantiles):
        rank = f"floor(CAST(n - 1 AS DOUBLE) * {float_literal(q)})"
        picks.append(f"min(CASE WHEN cum > {rank} THEN v END) AS lo{i}")
        picks.append(f"min(CASE WHEN cum > {rank} + 1 THEN v END) AS hi{i}")
    windows = [f"sum(c) OVER ({partition}) AS n"]
    if quantiles:
        windows.append(f"sum(c) OVER ({partition} ORDER BY v ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cum")
    if fns & {"sum", "mean", "std"}:
        windows.append(f"sum(c * CAST(v AS DOUBLE)) OVER ({partition}) AS total")
        picks.append("CAST(max(total) AS DOUBLE) AS sum_value")
        picks.append("CAST(max(total) / max(n) AS DOUBLE) AS mean_value")
    if "std" in fns:
        picks.append(
            "CASE WHEN max(n) > 1 THEN sqrt(sum(c * power(CAST(v AS DOUBLE) - total / n, 2)) / (max(n) - 1)) END "
            "AS std_value"
        )
    if "min" in fns:
        picks.append("CAST(min(v) AS DOUBLE) AS min_value")
    if "max" in fns:
        picks.append("CAST(max(v) AS DOUBLE) AS max_value")
    return (
        f"WITH counted AS ({counted}), cumulated AS (SELECT *, {', '.join(windows)} FROM counted) "
        f"SELECT gid{', ' + keys if keys else ''}, {', '.join(picks)} FROM cumulated GROUP BY gid{', ' + keys if keys else ''}"
    )


def counted_frame(plan: ProfilePlan, counts: ValueCounts) -> pd.DataFrame:
    """The counted rows of :func:`value_counts_sql` (``gid, g*, v, c``: each group's, then the overall ones)
    from counts taken out of SQL; values never seen in a group have no row there, as in SQL."""
    groups = group_columns(plan)
    if not groups:
        totals = counts.counts.sum(axis=1)
        seen = np.flatnonzero(totals)
        return pd.DataFrame({"gid": 1, "v": counts.values[seen], "c": totals[seen]})
    value_index, group_index = np.nonzero(counts.counts)
    keys = [[key[j] for key in counts.groups] for j in range(len(groups))]
    per_group = pd.DataFrame(
        {"gid": 0, **{g: np.asarray(keys[j], dtype=object)[group_index] for j, g in enumerate(groups)},
         "v": counts.values[value_index], "c": counts.counts[value_index, group_index]}
    )  # fmt: skip
    totals = counts.counts.sum(axis=1)
    seen = np.flatnonzero(totals)
    overall = pd.DataFrame(
        {"gid": (1 << len(groups)) - 1, **{g: np.full(len(seen), None, dtype=object) for g in groups},
         "v": counts.values[seen], "c": totals[seen]}
    )  # fmt: skip
    return pd.concat([per_group, overall], ignore_index=True)


def _from_counts(
    plan: ProfilePlan, value: str, aggregates: list[tuple[str, Aggregate]], counts: ValueCounts
) -> pd.DataFrame:
    """What :func:`value_counts_sql` returns for ``value``, from its counts taken out of SQL (same SQL after that)."""
    table = "lupus_counted"
    with in_memory_cursor() as con:
        con.register(table, counted_frame(plan, counts))
        return con.execute(value_counts_sql(plan, value, aggregates, "", counted_table=table)).df()


def _topk_counting(plan: ProfilePlan, value: str, aggregates: list[tuple[str, Aggregate]]) -> TopK | None:
    """The top-k of a scalar column whose counts of distinct values give all of ``value``'s aggregates, if any."""
    if not {a.fn for _, a in aggregates} <= {"count", "count_distinct"}:
        return None
    projected = plan.values[value]
    if projected.ops or projected.column in plan.casts:
        return None
    return next((t for t in plan.topks if t.column == projected.column and not t.elements), None)


def _counts_from_topk(plan: ProfilePlan, ranked: pd.DataFrame) -> pd.DataFrame:
    """Per group, the number of distinct values and of values, as :func:`value_counts_sql` names them."""
    first = ranked[ranked["rank"] == 1]
    keys = ["gid", *group_columns(plan)]
    return pd.DataFrame({**{k: first[k].to_numpy() for k in keys}, "distinct_values": first["distinct_values"].to_numpy(),
                         "n": first["total"].to_numpy()})  # fmt: skip


def listed_topk(plan: ProfilePlan, topk: TopK, counts: ListCounts) -> pd.DataFrame:
    """The rows :func:`topk_sql` returns (``gid, g*, v, n, rank, total, distinct_values``), from list counts."""
    groups = group_columns(plan)
    overall_gid = (1 << len(groups)) - 1 if groups else 1
    keyed = [(0, key, row) for key, row in zip(counts.groups, counts.counts, strict=True)] if groups else []
    keyed.append((overall_gid, (None,) * len(groups), counts.counts.sum(axis=0)))
    values = np.asarray(counts.values, dtype=object)
    records = []
    for gid, key, row in keyed:
        present = np.flatnonzero(row)
        # Ranked by count descending, then value ascending: Python orders str by code point, as DuckDB does.
        ranked = sorted(zip((-row[present]).tolist(), values[present].tolist(), strict=True))
        total = int(row[present].sum())
        for rank, (negative, value) in enumerate(ranked[: int(topk.k)], start=1):
            records.append((gid, *key, value, -negative, rank, total, len(present)))
    return pd.DataFrame.from_records(records, columns=["gid", *groups, "v", "n", "rank", "total", "distinct_values"])


def _served_counts(plan: ProfilePlan, listed: set[str]) -> dict[str, tuple[str, list[str]]]:
    """Per value alias ``len(list)`` of a ``listed`` column whose only aggregates are counts: the column and
    those aggregates' aliases, which the list counts give (its rows whose list is not null)."""
    served: dict[str, tuple[str, list[str]]] = {}
    for alias, value in plan.values.items():
        if value.column not in listed or value.ops != ("array_length",):
            continue
        pairs = [
            (a, agg) for a, agg in zip(plan.aggregate_aliases(), plan.aggregates, strict=True) if agg.value == alias
        ]
        if all(agg.fn == "count" for _, agg in pairs):
            served[alias] = (value.column, [a for a, _ in pairs])
    return served


def _merge_list_counts(
    plan: ProfilePlan, scalars: pd.DataFrame, aggregates: list[str], counts: ListCounts
) -> pd.DataFrame:
    """The scalars with the non-null counts of a list column (per group, and their sum overall) as ``aggregates``."""
    by_group = {key: float(n) for key, n in zip(counts.groups, counts.non_null, strict=True)}
    overall = float(counts.non_null.sum())
    groups = group_columns(plan)
    column = []
    for row in scalars.itertuples(index=False):
        if not groups or row.gid != 0:
            column.append(overall)
        else:
            key = tuple(None if pd.isna(v) else v for v in (getattr(row, g) for g in groups))
            column.append(by_group.get(key, 0.0))
    return scalars.assign(**{alias: column for alias in aggregates})


def _merge_scalars(plan: ProfilePlan, scalars: pd.DataFrame, extra: pd.DataFrame, aliases: list[str]) -> pd.DataFrame:
    """``scalars`` with the columns ``aliases`` of another scalar query over the same groups."""
    keys = ["gid", *group_columns(plan)]
    for frame in (scalars, extra):
        frame["gid"] = (frame["gid"] != 0).astype("int64")
    return scalars.merge(extra[keys + aliases], on=keys, how="left")


def _merge_counted(plan: ProfilePlan, scalars: pd.DataFrame, found: pd.DataFrame,
                   aggregates: list[tuple[str, Aggregate]]) -> pd.DataFrame:  # fmt: skip
    """The scalars with the aggregates of one counted value added: lists of quantiles, distinct counts, moments."""
    keys = ["gid", *group_columns(plan)]
    values: dict[str, list[Any]] = {alias: [] for alias, _ in aggregates}
    offset = 0
    for alias, aggregate in aggregates:
        if aggregate.fn == "quantiles":
            for row in found.itertuples(index=False):
                values[alias].append([quantile_value(getattr(row, f"lo{offset + i}"), getattr(row, f"hi{offset + i}"), row.n, q)
                                      for i, q in enumerate(aggregate.params)])  # fmt: skip
            offset += len(aggregate.params)
        else:
            column = _COUNTED_COLUMNS[aggregate.fn]
            values[alias] = found[column].astype("float64").tolist()
    found = pd.DataFrame({**{k: found[k].to_numpy() for k in keys if k in found}, **values})
    # Both sides carry gid as 0 (group) or non-zero (overall); normalise so the overall rows meet.
    for frame in (scalars, found):
        frame["gid"] = (frame["gid"] != 0).astype("int64")
    merged = scalars.merge(found, on=[k for k in keys if k in found], how="left")
    for alias, aggregate in aggregates:
        if aggregate.fn == "quantiles":
            merged[alias] = [v if isinstance(v, list) else None for v in merged[alias]]
        elif aggregate.fn in COUNTING_FNS:
            merged[alias] = merged[alias].fillna(0.0)  # a group without values has no counted rows
    return merged


#: Result column of :func:`value_counts_sql` holding each aggregate computed from the counts.
_COUNTED_COLUMNS = {
    "count": "n",
    "count_distinct": "distinct_values",
    "sum": "sum_value",
    "mean": "mean_value",
    "std": "std_value",
    "min": "min_value",
    "max": "max_value",
}


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
        f"sum(n) OVER ({partition}) AS total, count(*) OVER ({partition}) AS distinct_values FROM counted) "
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


def _render_aggregate(fn: str, value: str | None) -> str:
    return f"CAST({_AGGS[fn].format(value)} AS DOUBLE)"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def duckdb_input(data: Any) -> Any:
    """``data`` if DuckDB can scan it as-is (pandas DataFrame, pyarrow Table, DuckDB relation), else a validation error."""
    import pyarrow as pa

    if isinstance(data, (pd.DataFrame, pa.Table)) or _is_relation(data):
        return data
    raise LupusValidationError(
        "df", "must be a pandas DataFrame, a pyarrow Table, a DuckDB relation or a PySpark DataFrame",
        value=type(data).__name__,
    )  # fmt: skip
