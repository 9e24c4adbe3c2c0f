"""Scores shared by detectors that judge a value against an expected value and a band.

A band score is the signed distance from ``expected`` in units of the band's
half-width on that side: ``0`` on the expected line, ``+1`` on ``upper``, ``-1`` on
``lower``; beyond ``±1`` the value is outside the band. Keeping one definition lets
charts and alert thresholds treat every band detector alike.

Example:
    >>> band_score([12.0, 9.0, 10.0], expected=10.0, lower=8.0, upper=12.0).tolist()
    [1.0, -0.5, 0.0]
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Direction = Literal["both", "up", "down"]

# Half-widths below this fraction of the expected value are treated as zero, so float noise
# on a flat band (a constant series) never turns an equal value into an anomaly.
_RELATIVE_TOLERANCE = 1e-9


def band_score(value: object, *, expected: object, lower: object, upper: object) -> np.ndarray:
    """Signed distance of ``value`` from ``expected`` in band half-widths (finite; NaN where unknown).

    A value off a zero-width band scores ``±1e12`` times its relative distance rather than infinity,
    so scores stay storable while still ranking far above any in-band value.
    """
    value, expected, lower, upper = (np.asarray(x, dtype="float64") for x in (value, expected, lower, upper))
    tolerance = _RELATIVE_TOLERANCE * np.maximum(1.0, np.abs(expected))
    deviation = value - expected
    deviation = np.where(np.abs(deviation) <= tolerance, 0.0, deviation)
    half_width = np.where(deviation >= 0, upper - expected, expected - lower)
    half_width = np.maximum(half_width, tolerance)
    return deviation / half_width


def is_outside(score: np.ndarray, limit: float, direction: Direction) -> np.ndarray:
    """Whether ``|score|`` exceeds ``limit`` on the side(s) ``direction`` watches; NaN scores are never outside.

    >>> is_outside(np.array([2.0, -2.0, 0.5, np.nan]), 1.0, "up").tolist()
    [True, False, False, False]
    """
    with np.errstate(invalid="ignore"):
        if direction == "up":
            return score > limit
        if direction == "down":
            return score < -limit
        return np.abs(score) > limit
