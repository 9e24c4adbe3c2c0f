"""Fixed bounds: a value below ``min`` or above ``max`` is an anomaly.

Use it for hard limits that hold whatever the history says (a null rate above 1%,
a row count of zero). It has no memory, so it works from the first point.

Example:
    >>> import pandas as pd
    >>> detector = ThresholdDetector(min=0.0, max=0.01)
    >>> detector.detect(pd.Series([0.002, 0.05, 0.01]))["is_anomaly"].tolist()
    [False, True, False]
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from lupus_metrics.detectors.base import Detector, Verdict, verdict


class ThresholdDetector(Detector):
    """Flags values outside ``[min, max]``; a bound is allowed itself unless its ``*_inclusive`` flag is False.

    ``expected`` is the value clipped into the bounds (the nearest allowed value), ``lower``/``upper``
    are the bounds (NaN for an absent one), ``score`` is how far the value lies outside (signed:
    negative below ``min``, positive above ``max``, 0 inside).
    """

    kind: ClassVar[str] = "threshold"
    parallel: ClassVar[bool] = False  # a few numpy passes over all series: a pool only adds overhead
    causal: ClassVar[bool] = True

    min: float | None = Field(default=None, description="Lowest allowed value; None for no lower bound.")
    max: float | None = Field(default=None, description="Highest allowed value; None for no upper bound.")
    min_inclusive: bool = Field(default=True, description="Whether a value equal to `min` is allowed.")
    max_inclusive: bool = Field(default=True, description="Whether a value equal to `max` is allowed.")

    @model_validator(mode="after")
    def _bounds(self) -> ThresholdDetector:
        if self.min is None and self.max is None:
            raise ValueError("min/max: give at least one bound")
        for name in ("min", "max"):
            bound = getattr(self, name)
            if bound is not None and not np.isfinite(bound):
                raise ValueError(f"{name} must be finite, got {bound}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self

    def judge(self, series: pd.Series, *, period: int | None = None) -> Verdict:
        """Judge every point against the bounds (``period`` is accepted for the common interface and unused)."""
        values = series.to_numpy()
        lower = -np.inf if self.min is None else self.min
        upper = np.inf if self.max is None else self.max
        with np.errstate(invalid="ignore"):
            below = values < lower if self.min_inclusive else values <= lower
            above = values > upper if self.max_inclusive else values >= upper
            score = np.where(values < lower, values - lower, np.where(values > upper, values - upper, 0.0))
        score = np.where(np.isnan(values), np.nan, score)
        return verdict(
            series,
            expected=np.clip(values, lower, upper),
            lower=self.min,
            upper=self.max,
            score=score,
            is_anomaly=below | above,
        )
