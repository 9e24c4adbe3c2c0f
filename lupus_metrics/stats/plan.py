"""The aggregate plan: what an engine computes for a profile, described without any engine.

The compiler (:mod:`lupus_metrics.stats.compiler`) turns a spec into a :class:`ProfilePlan`.
An engine renders it in three steps, the same for DuckDB SQL and Spark Columns:

1. project every :class:`Value` (a source column passed through a chain of :data:`VALUE_OPS`),
2. compute every :class:`Aggregate` per group (grouping sets: the group-by columns, and the overall group),
3. compute every :class:`TopK` (value counts per group, ranked).

The engine returns the aggregates as floats; the shared core
(:mod:`lupus_metrics.stats.points`) evaluates each :class:`Output` formula over them and
builds the metric points. So engines hold no stat definitions at all.

Example:
    >>> builder = PlanBuilder()
    >>> score = Value("score", ("nan_to_null",))
    >>> p50, p95 = builder.quantile(score, 0.5), builder.quantile(score, 0.95)
    >>> builder.aggregates()
    (Aggregate(fn='quantiles', value='v0', params=(0.5, 0.95)),)
    >>> p95({"a0": [[1.0, 9.0]]})  # one group, whose [p50, p95] came back as [1, 9]
    array([9.])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

#: Operations a :class:`Value` may chain; each engine renders every one of them.
VALUE_OPS = (
    "nan_to_null",  # float NaN -> null (Lupus treats NaN, None and NaT alike)
    "to_double",  # booleans -> 1.0 / 0.0
    "str_length",  # characters (Unicode code points)
    "array_length",  # elements, nulls included
    "epoch_seconds",  # dates and timestamps -> seconds since 1970-01-01T00:00:00Z
    "equals_zero",  # 1.0 if x = 0, 0.0 otherwise, null stays null
)

#: Aggregate functions an engine implements; all skip nulls, as SQL does.
AGGREGATE_FNS = ("count_rows", "count", "sum", "mean", "std", "min", "max", "quantiles", "count_distinct")
#: Aggregates that are 0 (not null) over no rows.
COUNTING_FNS = frozenset({"count_rows", "count", "count_distinct"})

Formula = Callable[[Mapping[str, np.ndarray]], np.ndarray]


@dataclass(frozen=True)
class Value:
    """A source ``column`` passed through ``ops`` (names from :data:`VALUE_OPS`), in order."""

    column: str
    ops: tuple[str, ...] = ()

    def then(self, *ops: str) -> Value:
        """This value with more operations appended."""
        return Value(self.column, self.ops + ops)


@dataclass(frozen=True)
class Aggregate:
    """``fn`` over the projected value ``value`` (an alias such as ``v0``; None for ``count_rows``).

    ``quantiles`` returns a list: linear-interpolation quantiles at ``params`` (fractions).
    """

    fn: str
    value: str | None
    params: tuple[float, ...] = ()


@dataclass(frozen=True)
class Estimate:
    """How a stat's point is computed from aggregates: its value, and its ``n`` and ``stderr``.

    ``n`` is the support behind the value (rows, non-null values); ``stderr`` the value's
    standard error (:mod:`lupus_metrics.stats.standard_error`). None means undefined (NaN).
    """

    value: Formula
    n: Formula | None = None
    stderr: Formula | None = None


@dataclass(frozen=True)
class Output:
    """One metric per group: ``estimate`` maps aggregate columns (by alias) to its values, n and stderr."""

    metric: str
    estimate: Estimate


@dataclass(frozen=True)
class TopK:
    """The ``k`` most frequent values of ``column`` (its elements if ``elements``) per group.

    Ties are broken by value ascending; nulls are not counted. ``other_share`` asks for the
    share of the values outside the top ``k``.
    """

    column: str
    k: int
    elements: bool
    other_share: bool


@dataclass(frozen=True)
class ProfilePlan:
    """Everything an engine needs; produced by :func:`lupus_metrics.stats.compiler.compile_plan`.

    ``values`` maps a projection alias (``v0``...) to its :class:`Value`; ``aggregates`` is
    indexed by alias ``a0``, ``a1``... in order. ``casts`` maps a column without a type of
    its own (all null) to the kind the engine must cast it to before anything else.
    """

    group_by: tuple[str, ...]
    values: Mapping[str, Value]
    aggregates: tuple[Aggregate, ...]
    outputs: tuple[Output, ...]
    topks: tuple[TopK, ...]
    casts: Mapping[str, str] = field(default_factory=dict)
    filter: str | None = None
    sample_fraction: float | None = None
    sample_seed: int | None = None

    def aggregate_aliases(self) -> list[str]:
        """``a0, a1, ...``: the result column of each aggregate."""
        return [f"a{i}" for i in range(len(self.aggregates))]


@dataclass
class PlanBuilder:
    """Collects aggregates without duplicates and hands back formulas that read them.

    Quantiles of one value are merged into a single ``quantiles`` aggregate, so each
    engine sorts (or sketches) a column once however many ``pNN`` are asked for.
    """

    _values: dict[Value, str] = field(default_factory=dict)
    _aggs: dict[tuple[str, str | None], str] = field(default_factory=dict)
    _quantiles: dict[str, list[float]] = field(default_factory=dict)

    def value(self, value: Value) -> str:
        """Projection alias of ``value``."""
        return self._values.setdefault(value, f"v{len(self._values)}")

    def agg(self, fn: str, value: Value | None = None) -> Formula:
        """Formula reading aggregate ``fn`` of ``value`` (``count_rows`` takes no value)."""
        alias = self._alias(fn, None if value is None else self.value(value))
        return lambda cols: np.asarray(cols[alias], dtype="float64")

    def quantile(self, value: Value, q: float) -> Formula:
        """Formula reading the linear-interpolation quantile ``q`` (a fraction) of ``value``."""
        alias = self._alias("quantiles", self.value(value))
        qs = self._quantiles.setdefault(alias, [])
        if q not in qs:
            qs.append(q)
        index = qs.index(q)
        return lambda cols: np.array([float(v[index]) if _is_list(v) else np.nan for v in cols[alias]], dtype="float64")

    def values(self) -> dict[str, Value]:
        """Projection alias -> value."""
        return {alias: value for value, alias in self._values.items()}

    def aggregates(self) -> tuple[Aggregate, ...]:
        """Aggregates in alias order (``a0`` first)."""
        return tuple(
            Aggregate(fn, value, tuple(self._quantiles.get(alias, ()))) for (fn, value), alias in self._aggs.items()
        )

    def _alias(self, fn: str, value: str | None) -> str:
        return self._aggs.setdefault((fn, value), f"a{len(self._aggs)}")


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` with NaN (a null stat) where the denominator is 0.

    >>> ratio(np.array([1.0, 0.0]), np.array([4.0, 0.0]))
    array([0.25,  nan])
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator == 0, np.nan, numerator / np.where(denominator == 0, 1, denominator))


def _is_list(v: object) -> bool:
    # A group without values gets a null list, which engines hand back as None, NaN or pd.NA.
    return isinstance(v, (list, tuple, np.ndarray))
