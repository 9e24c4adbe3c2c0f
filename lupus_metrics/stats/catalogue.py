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

Example:
    >>> sorted(applicable_stats("boolean"))
    ['count', 'distinct_count', 'null_count', 'null_rate', 'true_rate']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lupus_metrics.stats.column_types import ColumnType, Kind
from lupus_metrics.stats.plan import Formula, PlanBuilder, Value, ratio
from lupus_metrics.stats.spec import StatRef

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


Builder = Callable[[PlanBuilder, ColumnContext, StatRef], Formula]


@dataclass(frozen=True)
class StatDef:
    """A catalogue entry: the kinds it applies to and how to build its formula."""

    kinds: frozenset[Kind]
    build: Builder


def _rows(b: PlanBuilder) -> Formula:
    return b.agg("count_rows")


def _null_count(b: PlanBuilder, c: ColumnContext, _: StatRef) -> Formula:
    rows, count = _rows(b), b.agg("count", c.value)
    return lambda cols: rows(cols) - count(cols)


def _null_rate(b: PlanBuilder, c: ColumnContext, s: StatRef) -> Formula:
    rows, nulls = _rows(b), _null_count(b, c, s)
    return lambda cols: ratio(nulls(cols), rows(cols))


def _lag(b: PlanBuilder, c: ColumnContext, _: StatRef) -> Formula:
    latest = b.agg("max", c.value)
    return lambda cols: cols["__ts"] - latest(cols)


def _of_value(fn: str) -> Builder:
    return lambda b, c, _: b.agg(fn, c.value)


def _of_length(fn: str) -> Builder:
    return lambda b, c, _: b.agg(fn, c.length)


def _share(op: str, *, of_length: bool = False) -> Builder:
    # A share of the non-null values: mean of a 1.0/0.0 indicator, nulls skipped.
    return lambda b, c, _: b.agg("mean", (c.length if of_length else c.value).then(op))


_NUMERIC: frozenset[Kind] = frozenset({"numeric"})
_TEXTUAL: frozenset[Kind] = frozenset({"string", "array"})

CATALOGUE: dict[str, StatDef] = {
    "count": StatDef(ALL_KINDS, _of_value("count")),
    "null_count": StatDef(ALL_KINDS, _null_count),
    "null_rate": StatDef(ALL_KINDS, _null_rate),
    "mean": StatDef(_NUMERIC, _of_value("mean")),
    "std": StatDef(_NUMERIC, _of_value("std")),
    "sum": StatDef(_NUMERIC, _of_value("sum")),
    "min": StatDef(frozenset({"numeric", "datetime"}), _of_value("min")),
    "max": StatDef(frozenset({"numeric", "datetime"}), _of_value("max")),
    "zero_rate": StatDef(_NUMERIC, _share("equals_zero")),
    "quantile": StatDef(_NUMERIC, lambda b, c, s: b.quantile(c.value, float(s.param or 0))),
    "distinct_count": StatDef(frozenset({"numeric", "string", "boolean", "datetime"}), _of_value("count_distinct")),
    "true_rate": StatDef(frozenset({"boolean"}), lambda b, c, _: b.agg("mean", c.value.then("to_double"))),
    "lag": StatDef(frozenset({"datetime"}), _lag),
    "empty_rate": StatDef(_TEXTUAL, _share("equals_zero", of_length=True)),
    "length_mean": StatDef(_TEXTUAL, _of_length("mean")),
    "length_std": StatDef(_TEXTUAL, _of_length("std")),
    "length_min": StatDef(_TEXTUAL, _of_length("min")),
    "length_max": StatDef(_TEXTUAL, _of_length("max")),
    "length_quantile": StatDef(_TEXTUAL, lambda b, c, s: b.quantile(c.length, float(s.param or 0))),
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


def _unreachable(stat: StatRef) -> Formula:
    raise AssertionError(f"{stat.text} is computed by the top-k step, not by an aggregate")
