"""Exact order statistics in bounded memory: quantiles from the distinct values and their counts.

Holding every value of a group to pick its quantiles (DuckDB's ``quantile_cont``) needs memory
for all of them and cannot spill to disk. Counting the rows per distinct value is a hash
aggregate, and the cumulative count over the sorted distinct values a window, both of which
the engines spill when the data does not fit. The order statistics at the ranks a quantile
needs are then the smallest values whose cumulative count exceeds those ranks, so the
quantile is exact: numpy's linear interpolation between the values at ranks ⌊h⌋ and ⌊h⌋ + 1,
h = (n − 1)·q.

Example:
    >>> lerp(1.0, 3.0, 0.25), lerp(1.0, 3.0, 0.75)
    (1.5, 2.5)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from lupus_metrics.sql.grouping import GroupedQuery
from lupus_metrics.sql.tables import float_literal


def cumulative_sql(query: GroupedQuery, source: str, counts: str = "count(*) AS c") -> str:
    """Per group and distinct ``v`` of ``source``: the counts, their cumulative sum ``cum`` and total ``n``.

    ``counts`` may count several sides at once (``sum(...) AS r, sum(...) AS q``); ``cum`` and
    ``n`` then cumulate the first of them.
    """
    counted = query.aggregate(counts, source, by=["v"])
    first = counts.rsplit(" AS ", 1)[1] if "," not in counts else counts.split(",")[0].rsplit(" AS ", 1)[1]
    over = query.partition
    return (
        f"SELECT *, sum({first}) OVER ({over} ORDER BY v ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cum, "
        f"sum({first}) OVER ({over}) AS n FROM ({counted}) AS counted"
    )


def quantile_picks(
    qs: Sequence[float], *, cum: str = "cum", n: str = "n", value: str = "v", over: str = ""
) -> list[str]:
    """Aggregates over a :func:`cumulative_sql` result: per q, the values at ranks ⌊h⌋ (``lo<i>``) and ⌊h⌋ + 1 (``hi<i>``).

    With ``over`` (a window's partition) they are window aggregates, repeated on every row.
    """
    window = f" OVER ({over})" if over else ""
    picks = []
    for i, q in enumerate(qs):
        rank = f"floor(CAST({n} - 1 AS DOUBLE) * {float_literal(q)})"
        picks.append(f"min(CASE WHEN {cum} > {rank} THEN {value} END){window} AS lo{i}")
        picks.append(f"min(CASE WHEN {cum} > {rank} + 1 THEN {value} END){window} AS hi{i}")
    return picks


def quantile_value(lo: float, hi: float | None, n: float, q: float) -> float:
    """The quantile from the picked order statistics (``hi`` is None past the last rank)."""
    h = (float(n) - 1.0) * float(q)
    fraction = h - math.floor(h)
    if hi is None or fraction == 0.0 or (isinstance(hi, float) and math.isnan(hi)):
        return float(lo)
    return lerp(float(lo), float(hi), fraction)


def lerp(a: float, b: float, t: float) -> float:
    """Linear interpolation as numpy's quantile does it (from the nearer end, for symmetry)."""
    difference = b - a
    return b - difference * (1.0 - t) if t >= 0.5 else a + difference * t
