"""An alert budget: how many false alerts per series a user accepts in a span of time.

Written ``"<alerts>/<span>"`` with span ``year``, ``quarter``, ``month``, ``week`` or ``day``
(``"0.25/year"``, ``"1/quarter"``), or as a bare number of alerts per year. A detector with a
budget turns it into the share of points it may flag on clean data, from the data's frequency:
``0.25/year`` on daily data is 0.25 / 365.25 = 6.8e-4 of the points.

Example:
    >>> budget = Budget.parse("1/quarter")
    >>> str(budget), round(budget.per_year, 2)
    ('1/quarter', 4.0)
    >>> round(budget.share_of_points(step_seconds=86_400), 6)
    0.010951
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SECONDS_PER_DAY = 86_400.0
SPANS_IN_DAYS = {"year": 365.25, "quarter": 365.25 / 4, "month": 365.25 / 12, "week": 7.0, "day": 1.0}
_PATTERN = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(?:/|\s+per\s+)\s*([a-z]+?)s?\s*$")


@dataclass(frozen=True)
class Budget:
    """``alerts`` false alerts per series per ``span``."""

    alerts: float
    span: str

    @classmethod
    def parse(cls, value: object) -> Budget:
        """``"0.25/year"``, ``"1 per quarter"``, or a number (alerts per year); raises ``ValueError``."""
        if isinstance(value, Budget):
            return value
        if isinstance(value, bool):
            raise ValueError(f"budget must be like '0.25/year' or '1/quarter', got {value!r}")
        if isinstance(value, int | float):
            alerts, span = float(value), "year"
        else:
            match = _PATTERN.match(str(value).lower())
            if not match or match.group(2) not in SPANS_IN_DAYS:
                raise ValueError(
                    f"budget must be '<alerts>/<span>' with span one of {', '.join(SPANS_IN_DAYS)} "
                    f"(e.g. '0.25/year', '1/quarter'), got {value!r}"
                )
            alerts, span = float(match.group(1)), match.group(2)
        if not 0 < alerts < float("inf"):
            raise ValueError(f"budget must allow a positive, finite number of alerts, got {value!r}")
        return cls(alerts, span)

    @property
    def per_year(self) -> float:
        """False alerts per series-year."""
        return self.alerts * SPANS_IN_DAYS["year"] / SPANS_IN_DAYS[self.span]

    def share_of_points(self, *, step_seconds: float) -> float:
        """The share of points (one every ``step_seconds``) that may be flagged, capped at 0.25."""
        points_per_span = SPANS_IN_DAYS[self.span] * _SECONDS_PER_DAY / max(step_seconds, 1e-9)
        return min(0.25, self.alerts / points_per_span)

    def __str__(self) -> str:
        return f"{self.alerts:g}/{self.span}"
