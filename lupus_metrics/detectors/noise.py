"""What a detector knows about each point besides its value, and the floor and range every band respects.

:class:`SeriesInfo` carries, per point, the ``stderr`` and ``n`` columns of the metric
points (NaN when unknown), which points to leave out of baselines (``excluded``: days whose
blocking check failed, for example), and the metric's valid range. The batch runner builds it
from the points frame; detectors that use it set ``uses_series_info``.

Every band detector floors its spread the same way (:func:`floored_spread`): never below the
point's standard error, never below the rule's practical minimum (``min_delta``, or
``min_relative_delta`` x \\|expected\\|, as the smallest deviation that may alert), and never
below a tiny fraction of the series' scale, so a flat history cannot make scores explode.

Example:
    >>> valid_range("ranking.ndcg"), valid_range("rows.count"), valid_range("age.mean")
    ((0.0, 1.0), (0.0, inf), (-inf, inf))
    >>> floored_spread(np.array([0.0, 2.0]), np.array([10.0, 10.0]), stderr=np.array([0.5, 0.5])).tolist()
    [0.5, 2.0]
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

# A spread never falls below this fraction of the series' scale: a flat history (zero MAD) then gives
# large but finite scores (about 1e4 x the relative change) instead of 1e12.
FLAT_FLOOR = 1e-4

_UNIT = (0.0, 1.0)
_NON_NEGATIVE = (0.0, np.inf)
_CORRELATION = (-1.0, 1.0)
# First matching glob wins. Names follow docs/stats.md, docs/evaluation.md and lupus_metrics.drift.
_RANGES: tuple[tuple[str, tuple[float, float]], ...] = (
    ("churn.spearman", _CORRELATION),
    ("*.null_rate", _UNIT), ("*.zero_rate", _UNIT), ("*.true_rate", _UNIT), ("*.empty_rate", _UNIT),
    ("*.topk_share", _UNIT), ("*.other_share", _UNIT), ("*.rate", _UNIT), ("*_rate", _UNIT),
    ("ranking.ndcg", _UNIT), ("ranking.map", _UNIT), ("ranking.mrr", _UNIT), ("ranking.recall", _UNIT),
    ("ranking.precision", _UNIT), ("ranking.coverage", _UNIT),
    ("classification.accuracy", _UNIT), ("classification.precision", _UNIT), ("classification.recall", _UNIT),
    ("classification.f1", _UNIT), ("classification.roc_auc", _UNIT), ("classification.*_share", _UNIT),
    ("drift.js", _UNIT), ("drift.ks", _UNIT), ("drift.*_pvalue", _UNIT), ("drift.new_category_share", _UNIT),
    ("*.count", _NON_NEGATIVE), ("*_count", _NON_NEGATIVE), ("*.rows", _NON_NEGATIVE), ("classification.confusion", _NON_NEGATIVE),
    ("classification.log_loss", _NON_NEGATIVE), ("regression.mae", _NON_NEGATIVE),
    ("regression.rmse", _NON_NEGATIVE), ("regression.mape", _NON_NEGATIVE),
    ("regression.mape_excluded", _NON_NEGATIVE), ("drift.psi", _NON_NEGATIVE), ("drift.chi2", _NON_NEGATIVE),
    ("drift.wasserstein*", _NON_NEGATIVE), ("ranking.entropy", _NON_NEGATIVE), ("ranking.novelty", _NON_NEGATIVE),
    ("churn.transitions", _NON_NEGATIVE), ("churn.mean_abs_change", _NON_NEGATIVE),
    ("churn.entities_*", _NON_NEGATIVE), ("*.std", _NON_NEGATIVE), ("*.length_*", _NON_NEGATIVE),
)  # fmt: skip


_COUNT_GLOBS = (
    "*.count", "*_count", "*.rows", "classification.confusion", "churn.transitions", "churn.entities_*",
)  # fmt: skip


def is_count(metric: str | None) -> bool:
    """Whether ``metric`` counts things (rows, occurrences, entities): a non-negative integer whose
    noise grows with its size, as ``rows.count`` or ``tags.topk_count``.

    >>> is_count("rows.count"), is_count("errors.count"), is_count("clicks.rate")
    (True, True, False)
    """
    return bool(metric) and any(fnmatch.fnmatchcase(metric, glob) for glob in _COUNT_GLOBS)


def valid_range(metric: str | None) -> tuple[float, float]:
    """The values ``metric`` can take, from its name's family: rates and scores [0, 1], counts >= 0.

    Unknown names are unbounded. A rule's ``range`` overrides this.
    """
    if metric:
        for glob, bounds in _RANGES:
            if fnmatch.fnmatchcase(metric, glob):
                return bounds
    return (-np.inf, np.inf)


@dataclass(frozen=True)
class SeriesInfo:
    """Side information of one series, aligned with its points (arrays as long as the series).

    ``stderr``/``n``: the points' standard error and support (NaN where unknown, None when the
    points had no such column). ``excluded``: points to leave out of every baseline and training
    window (they are still judged). ``valid_range``: the values the metric can take.
    """

    metric: str | None = None
    stderr: np.ndarray | None = None
    n: np.ndarray | None = None
    excluded: np.ndarray | None = None
    valid_range: tuple[float, float] = (-np.inf, np.inf)

    def take(self, order: np.ndarray) -> SeriesInfo:
        """The same information reordered (or subset) by positions ``order``."""

        def pick(values: np.ndarray | None) -> np.ndarray | None:
            return None if values is None else values[order]

        return SeriesInfo(self.metric, pick(self.stderr), pick(self.n), pick(self.excluded), self.valid_range)


def stderr_of(info: SeriesInfo | None, length: int) -> np.ndarray:
    """The points' standard errors with unknown ones as 0 (no floor)."""
    if info is None or info.stderr is None:
        return np.zeros(length)
    return np.nan_to_num(np.asarray(info.stderr, dtype="float64"), nan=0.0, posinf=0.0, neginf=0.0).clip(min=0.0)


def excluded_of(info: SeriesInfo | None, length: int) -> np.ndarray:
    """Which points to leave out of baselines (all False without information)."""
    if info is None or info.excluded is None:
        return np.zeros(length, dtype=bool)
    return np.asarray(info.excluded, dtype=bool)


class NoiseFloor(BaseModel):
    """The practical minimum of a band detector: deviations below it never alert."""

    min_delta: float | None = Field(
        default=None, ge=0, description="Smallest deviation from `expected` that may alert, in the metric's units."
    )
    min_relative_delta: float | None = Field(
        default=None, ge=0, description="Smallest deviation that may alert, as a fraction of |expected|."
    )


def floored_spread(
    spread: np.ndarray,
    center: np.ndarray,
    *,
    stderr: np.ndarray | None = None,
    min_delta: Any = None,
    min_relative_delta: Any = None,
    threshold: Any = 1.0,
    scale: Any = None,
) -> np.ndarray:
    """``spread`` raised to every floor: ``stderr``, ``min_delta / threshold``,
    ``min_relative_delta x |center| / threshold`` and :data:`FLAT_FLOOR` x ``scale``
    (default: ``|center|``, at least 1e-12). NaN spreads stay NaN.

    ``threshold`` is the number of spreads a point may lie from ``center``, so the two ``min_*``
    floors bound the band's half-width, not the spread.
    """
    spread = np.asarray(spread, dtype="float64")
    center = np.abs(np.asarray(center, dtype="float64"))
    threshold = np.asarray(threshold, dtype="float64")
    floor = FLAT_FLOOR * np.maximum(center if scale is None else np.asarray(scale, dtype="float64"), 1e-12)
    if stderr is not None:
        floor = np.maximum(floor, np.nan_to_num(np.asarray(stderr, dtype="float64"), nan=0.0))
    if min_delta is not None and np.any(min_delta):
        floor = np.maximum(floor, np.asarray(min_delta, dtype="float64") / threshold)
    if min_relative_delta is not None and np.any(min_relative_delta):
        floor = np.maximum(floor, np.asarray(min_relative_delta, dtype="float64") * center / threshold)
    with np.errstate(invalid="ignore"):
        return np.where(np.isnan(spread), np.nan, np.maximum(spread, np.nan_to_num(floor, nan=0.0)))


def series_scale(values: np.ndarray) -> float:
    """A typical magnitude of ``values`` (median of the non-zero absolute values; 1 for an all-zero series)."""
    magnitudes = np.abs(values[np.isfinite(values)])
    magnitudes = magnitudes[magnitudes > 0]
    return float(np.median(magnitudes)) if len(magnitudes) else 1.0


def clip_band(floats: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    """``expected``, ``lower`` and ``upper`` (columns 1-3 of a verdict's floats) clipped into ``bounds``."""
    low, high = bounds
    if low == -np.inf and high == np.inf:
        return floats
    clipped = floats.copy()
    clipped[:, 1:4] = np.clip(clipped[:, 1:4], low, high)
    return clipped
