"""How a metric's numbers read, by metric kind: rates and shares as percentages, counts with thousands
separators, other numbers to four significant digits.

The kind comes from the metric name's last part, the statistic (``docs/stats.md``): ``rate``/``*_rate``
and ``share``/``*_share`` are shares of a whole (``churn.rate``, ``age.null_rate``, ``tags.topk_share``);
``count``/``*_count`` are counts (``rows.count``, ``tags.topk_count``); anything else is a number.

The same rules give the d3-format specifiers the charts use (Vega formats axes and tooltips with
d3-format) and the Python formatting of tables, so a value reads the same on the axis, in the
tooltip and in the table.

Example:
    >>> metric_kind("churn.rate"), metric_kind("rows.count"), metric_kind("ranking.ndcg")
    ('percent', 'count', 'number')
    >>> format_value(0.3124, "percent"), format_value(1234567.0, "count"), format_value(0.0846679457694, "number")
    ('31.2%', '1,234,567', '0.08467')
"""

from __future__ import annotations

import math
from typing import Literal

Kind = Literal["percent", "count", "number"]

SIGNIFICANT_DIGITS = {"percent": 3, "number": 4}

# d3-format specifiers. Axis formats carry no precision: Vega hands them to the scale's tickFormat, which
# derives the decimals from the tick step (so ticks 0.30, 0.305, 0.31 read "30%", "30.5%", "31%" and a
# narrow range of large counts keeps its distinguishing digits). Tooltips round to significant digits.
AXIS_FORMATS: dict[str, str] = {"percent": "~%", "count": ",~f", "number": ",~f"}
TOOLTIP_FORMATS: dict[str, str] = {"percent": ".3~p", "count": ",.0f", "number": ",.4~r"}


def metric_kind(metric: str | None) -> Kind:
    """``percent``, ``count`` or ``number`` for a metric name (by its last dotted part)."""
    stat = (metric or "").rsplit(".", 1)[-1]
    if stat in ("rate", "share") or stat.endswith(("_rate", "_share")):
        return "percent"
    if stat == "count" or stat.endswith("_count"):
        return "count"
    return "number"


def format_value(value: float | None, kind: Kind) -> str:
    """``value`` as text for ``kind``; empty for a missing value.

    >>> [format_value(v, "number") for v in (500.0, 123456.78, -0.000123456, 0.0, float("nan"))]
    ['500', '123,500', '-0.0001235', '0', '']
    >>> format_value(0.000123, "percent"), format_value(2.4, "count")
    ('0.0123%', '2')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if kind == "count":
        return f"{value:,.0f}"
    if kind == "percent":
        return _significant(value * 100, SIGNIFICANT_DIGITS["percent"]) + "%"
    return _significant(value, SIGNIFICANT_DIGITS["number"])


def format_change(value: float | None, expected: float | None) -> str:
    """The change from ``expected`` to ``value`` in percent of ``expected``, signed; empty when undefined.

    >>> format_change(50.0, 100.0), format_change(0.31, 0.3), format_change(1.0, 0.0)
    ('-50%', '+3.33%', '')
    """
    if value is None or expected is None or not expected or math.isnan(value) or math.isnan(expected):
        return ""
    change = (value - expected) / abs(expected)
    return ("+" if change > 0 else "") + _significant(change * 100, SIGNIFICANT_DIGITS["percent"]) + "%"


def _significant(value: float, digits: int) -> str:
    """Decimal notation rounded to ``digits`` significant digits, thousands separated, trailing zeros cut
    (d3's ``,.Nr`` with ``~``; Python's ``g`` switches to exponents for large and small numbers)."""
    if value == 0:
        return "0"
    decimals = digits - 1 - math.floor(math.log10(abs(value)))
    rounded = round(value, decimals)
    if decimals <= 0:
        return f"{rounded:,.0f}"
    return f"{rounded:,.{decimals}f}".rstrip("0").rstrip(".")
