"""Time presets of the chart page and the dashboards: the last 7, 30 or 90 days, or a year, ending on a given day.

Example:
    >>> preset_range("30 days", date(2026, 3, 31))
    (datetime.date(2026, 3, 2), datetime.date(2026, 3, 31))
    >>> matching_preset(date(2026, 3, 2), date(2026, 3, 31), date(2026, 3, 31))
    '30 days'
    >>> matching_preset(date(2026, 3, 3), date(2026, 3, 31), date(2026, 3, 31)) is None
    True
"""

from __future__ import annotations

from datetime import date, timedelta

PRESETS: dict[str, int] = {"7 days": 7, "30 days": 30, "90 days": 90, "1 year": 365}


def preset_range(label: str, last_day: date) -> tuple[date, date]:
    """The days of preset ``label`` ending on ``last_day`` (inclusive at both ends)."""
    return last_day - timedelta(days=PRESETS[label] - 1), last_day


def matching_preset(start: date, end: date, last_day: date) -> str | None:
    """The preset whose range ending on ``last_day`` is exactly ``start..end``, if any."""
    for label in PRESETS:
        if preset_range(label, last_day) == (start, end):
            return label
    return None
