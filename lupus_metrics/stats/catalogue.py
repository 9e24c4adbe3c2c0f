"""The statistics Lupus knows: for each, the column kinds it applies to and its formula.

This is the only definition of the stats; both engines execute what it compiles to.
Exact definitions (also in docs/stats.md), per group, with ``x`` the column's non-null values:

- ``count`` = number of non-null values; ``null_count`` = rows - count; ``null_rate`` = null_count / rows
- ``mean``, ``std`` (sample, ddof=1), ``min``, ``max``, ``sum`` of x; ``pNN`` = quantile NN/100 of x, linear interpolation
- ``zero_rate`` = share of x equal to 0; ``true_rate`` = share of x that are true;
  ``empty_rate`` = share of x that are empty (``""`` or an empty array)
- ``distinct_count`` = number of distinct x
- ``length_mean|std|min|max|pNN`` = that stat of the lengths of x (characters, or array elements)
- datetime ``min``/``max`` in seconds since the Unix epoch (UTC); ``lag`` = partition ts - max, in seconds
- ``topk:K`` and ``other_share``: see :class:`lupus_metrics.stats.plan.TopK`.

Each stat also says its ``n`` and ``stderr`` (:class:`~lupus_metrics.stats.plan.Estimate`):
counts and totals have n = rows; the other stats n = non-null values; rates and shares have the
Wald standard error √(p(1−p)/n), means sd/√n; the others none (NaN). The table is in docs/stats.md.

Example:
    >>> sorted(applicable_stats("boolean"))
    ['count', 'distinct_count', 'null_count', 'null_rate', 'true_rate']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lupus_metrics.stats.column_types import ColumnType, Kind
from lupus_metrics.stats.plan import Estimate, Formula, PlanBuilder, Value, ratio
from lupus_metrics.stats.spec import StatRef
from lupus_metrics.stats.standard_error import mean_stderr, rate_stderr

ALL_KINDS: frozenset[Kind] = frozenset({"numeric", "string", "boolean", "datetime", "array"})


@dataclass(frozen=True)
class ColumnContext:
    """A profiled column as the stat builders see it."""

    name: str
    type: ColumnType

    @property
    def value(self) -> Value:
        """The column's values with NaN read as null; datetimes as epoch seconds."""
        if self.type.kind == "datetime":
            return Value(self.name, ("epoch_seconds",))
        return Value(self.name, ("nan_to_null",) if self.type.floating else ())

    @property
    def length(self) -> Value:
        """Lengths of a string (characters) or array (elements)."""
        return Value(self.name, ("array_length" if self.type.kind == "array" else "str_length",))

    @property
    def present(self) -> Value:
        """A value that is null exactly where the column is: what counts of non-null values count.

        For arrays it is the length, so that engines never carry the arrays themselves through
        the aggregate query (DuckDB materializes the projection there; lists cost the most).
        """
        return self.length if self.type.kind == "array" else self.value


Builder = Callable[[PlanBuilder, ColumnContext, StatRef], Estimate]


@dataclass(frozen=True)
class StatDef:
    """A catalogue entry: the kinds it applies to and how to build its estimate."""

    kinds: frozenset[Kind]
    build: Builder


def _rows(b: PlanBuilder) -> Formula:
    return b.agg("count_rows")


def _count(b: PlanBuilder, c: ColumnContext) -> Formula:
    return b.agg("count", c.present)


def _of_rows(value: Formula, b: PlanBuilder) -> Estimate:
    """A count or total over the group's rows: n = rows, no standard error (it is not an estimate)."""
    return Estimate(value, n=_rows(b))


def _of_values(value: Formula, b: PlanBuilder, c: ColumnContext) -> Estimate:
    """A stat of the non-null values whose standard error Lupus does not define: n = non-null values."""
    return Estimate(value, n=_count(b, c))


def _null_count(b: PlanBuilder, c: ColumnContext, _: StatRef) -> Estimate:
    rows, count = _rows(b), _count(b, c)
    return _of_rows(lambda cols: rows(cols) - count(cols), b)


def _null_rate(b: PlanBuilder, c: ColumnContext, _: StatRef) -> Estimate:
    rows, count = _rows(b), _count(b, c)
    rate: Formula = lambda cols: ratio(rows(cols) - count(cols), rows(cols))  # noqa: E731
    return Estimate(rate, n=rows, stderr=lambda cols: rate_stderr(rate(cols), rows(cols)))


def _lag(b: PlanBuilder, c: ColumnContext, _: StatRef) -> Estimate:
    latest = b.agg("max", c.value)
    return _of_values(lambda cols: cols["__ts"] - latest(cols), b, c)


def _of_value(fn: str) -> Builder:
    return lambda b, c, _: _of_values(b.agg(fn, c.value), b, c)


def _of_length(fn: str) -> Builder:
    return lambda b, c, _: _of_values(b.agg(fn, c.length), b, c)


def _mean_of(value: Callable[[ColumnContext], Value]) -> Builder:
    """A mean of the non-null values: its standard error is sd/√n."""

    def build(b: PlanBuilder, c: ColumnContext, _: StatRef) -> Estimate:
        count, sd = _count(b, c), b.agg("std", value(c))
        return Estimate(b.agg("mean", value(c)), n=count, stderr=lambda cols: mean_stderr(sd(cols), count(cols)))

    return build


def _share(value: Callable[[ColumnContext], Value]) -> Builder:
    """A share of the non-null values (the mean of a 1.0/0.0 indicator, nulls skipped): a rate over them."""

    def build(b: PlanBuilder, c: ColumnContext, _: StatRef) -> Estimate:
        count, share = _count(b, c), b.agg("mean", value(c))
        return Estimate(share, n=count, stderr=lambda cols: rate_stderr(share(cols), count(cols)))

    return build


_NUMERIC: frozenset[Kind] = frozenset({"numeric"})
_TEXTUAL: frozenset[Kind] = frozenset({"string", "array"})

CATALOGUE: dict[str, StatDef] = {
    "count": StatDef(ALL_KINDS, lambda b, c, _: _of_rows(_count(b, c), b)),
    "null_count": StatDef(ALL_KINDS, _null_count),
    "null_rate": StatDef(ALL_KINDS, _null_rate),
    "mean": StatDef(_NUMERIC, _mean_of(lambda c: c.value)),
    "std": StatDef(_NUMERIC, _of_value("std")),
    "sum": StatDef(_NUMERIC, _of_value("sum")),
    "min": StatDef(frozenset({"numeric", "datetime"}), _of_value("min")),
    "max": StatDef(frozenset({"numeric", "datetime"}), _of_value("max")),
    "zero_rate": StatDef(_NUMERIC, _share(lambda c: c.value.then("equals_zero"))),
    "quantile": StatDef(_NUMERIC, lambda b, c, s: _of_values(b.quantile(c.value, float(s.param or 0)), b, c)),
    "distinct_count": StatDef(frozenset({"numeric", "string", "boolean", "datetime"}), _of_value("count_distinct")),
    "true_rate": StatDef(frozenset({"boolean"}), _share(lambda c: c.value.then("to_double"))),
    "lag": StatDef(frozenset({"datetime"}), _lag),
    "empty_rate": StatDef(_TEXTUAL, _share(lambda c: c.length.then("equals_zero"))),
    "length_mean": StatDef(_TEXTUAL, _mean_of(lambda c: c.length)),
    "length_std": StatDef(_TEXTUAL, _of_length("std")),
    "length_min": StatDef(_TEXTUAL, _of_length("min")),
    "length_max": StatDef(_TEXTUAL, _of_length("max")),
    "length_quantile": StatDef(_TEXTUAL, lambda b, c, s: _of_values(b.quantile(c.length, float(s.param or 0)), b, c)),
    # Top-k stats are counted by the engines' top-k step; listed here for their kinds only.
    "topk": StatDef(_TEXTUAL, lambda b, c, s: _unreachable(s)),
    "other_share": StatDef(_TEXTUAL, lambda b, c, s: _unreachable(s)),
}

#: Stats of a column listed with no stats, by kind.
DEFAULT_STATS: dict[Kind, tuple[str, ...]] = {
    "numeric": ("count", "null_rate", "mean", "std", "min", "max", "p50"),
    "string": ("count", "null_rate", "distinct_count", "empty_rate", "topk:10", "other_share"),
    "boolean": ("count", "null_rate", "true_rate"),
    "datetime": ("count", "null_rate", "min", "max", "lag"),
    "array": ("count", "null_rate", "empty_rate", "length_mean", "length_max", "topk:10", "other_share"),
}


def applicable_stats(kind: Kind) -> set[str]:
    """Names of the catalogue entries that apply to ``kind``."""
    return {name for name, stat in CATALOGUE.items() if kind in stat.kinds}


def _unreachable(stat: StatRef) -> Estimate:
    raise AssertionError(f"{stat.text} is computed by the top-k step, not by an aggregate")
