"""Prophet forecast band: a point outside the forecast's uncertainty interval is an anomaly.

Prophet models trend (with changepoints), weekly/yearly/daily seasonality and
holidays, so it suits metrics whose normal level moves with the calendar. Two modes:

* ``in_sample`` fits all points and judges each against the fitted band (one fit;
  good for reviewing history, though a large anomaly pulls the fit slightly).
* ``next_step`` fits the points before the last ``horizon`` ones and judges those
  against the forecast: what a daily run does (the new point cannot hide itself).
  Earlier points are not judged.

The interval is a Monte Carlo estimate; ``seed`` makes it reproducible (the global
NumPy random state is restored afterwards). Fitting costs about 0.1 s per series-year.

Example:
    >>> import numpy as np, pandas as pd
    >>> days = pd.date_range("2026-01-01", periods=56, freq="D")
    >>> s = pd.Series(100 + 10 * (days.dayofweek >= 5) + np.tile([0.5, -0.5], 28), index=days)
    >>> s.iloc[-1] = 300.0
    >>> ProphetDetector(mode="next_step").detect(s)["is_anomaly"].tolist()[-3:]
    [False, False, True]
"""

from __future__ import annotations

import functools
import logging
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from lupus_metrics.detectors.bands import Direction, band_score, is_outside
from lupus_metrics.detectors.base import Detector, Verdict, verdict
from lupus_metrics.errors import LupusValidationError

Seasonality = bool | Literal["auto"]
# Positional series get synthetic daily timestamps from this origin, with one seasonality of length `period`.
_POSITIONAL_ORIGIN = pd.Timestamp("2000-01-01")


class ProphetDetector(Detector):
    """Judges points against Prophet's forecast interval.

    ``expected`` is ``yhat``, ``lower``/``upper`` are ``yhat_lower``/``yhat_upper``, ``score`` is the
    signed distance from ``yhat`` in band half-widths (``±1`` on the band edges).
    """

    kind: ClassVar[str] = "prophet"

    mode: Literal["in_sample", "next_step"] = Field(
        default="in_sample",
        description="`in_sample`: one fit over all points; `next_step`: forecast the last `horizon`.",
    )
    horizon: int = Field(default=1, ge=1, description="`next_step` mode: how many trailing points to forecast.")
    interval_width: float = Field(default=0.99, gt=0, lt=1, description="Coverage of the uncertainty interval.")
    direction: Direction = Field(default="both", description="Which side is an anomaly: `both`, `up` or `down`.")
    weekly_seasonality: Seasonality = Field(default="auto", description="Weekly seasonality: true, false or auto.")
    yearly_seasonality: Seasonality = Field(default="auto", description="Yearly seasonality: true, false or auto.")
    daily_seasonality: Seasonality = Field(default="auto", description="Daily seasonality: true, false or auto.")
    seasonality_mode: Literal["additive", "multiplicative"] = Field(default="additive")
    holidays_country: str | None = Field(
        default=None, description="Country code whose public holidays get their own effects, e.g. `JP`."
    )
    changepoint_prior_scale: float = Field(
        default=0.05, gt=0, description="Trend flexibility: larger lets the trend bend more."
    )
    uncertainty_samples: int = Field(default=1000, ge=100, description="Monte Carlo draws for the interval.")
    seed: int = Field(default=0, ge=0, description="Seed of the interval's Monte Carlo draws.")
    min_history: int = Field(default=14, ge=2, description="Fewest non-missing training points to fit at all.")

    @field_validator("holidays_country")
    @classmethod
    def _known_country(cls, country: str | None) -> str | None:
        if country is not None:
            import holidays

            if country not in holidays.list_supported_countries():
                raise ValueError(f"unknown country {country!r}; use an ISO code such as 'JP' or 'US'")
        return country

    def judge(self, series: pd.Series, *, period: int | None = None) -> Verdict:
        """Fit Prophet and judge the points of the chosen ``mode``."""
        ds = _prophet_timestamps(series, period)
        judged = len(series) if self.mode == "in_sample" else min(self.horizon, len(series))
        train_end = len(series) if self.mode == "in_sample" else len(series) - judged
        train = pd.DataFrame({"ds": ds[:train_end], "y": series.to_numpy()[:train_end]}).dropna()
        expected = np.full(len(series), np.nan)
        lower, upper = expected.copy(), expected.copy()
        if len(train) >= self.min_history:
            target = slice(len(series) - judged, len(series))
            forecast = self._forecast(
                train, pd.DataFrame({"ds": ds[target]}), period, positional=_is_positional(series)
            )
            expected[target] = forecast["yhat"].to_numpy()
            lower[target] = forecast["yhat_lower"].to_numpy()
            upper[target] = forecast["yhat_upper"].to_numpy()
        score = band_score(series.to_numpy(), expected=expected, lower=lower, upper=upper)
        return verdict(
            series, expected=expected, lower=lower, upper=upper, score=score,
            is_anomaly=is_outside(score, 1.0, self.direction),
        )  # fmt: skip

    def _forecast(self, train: pd.DataFrame, future: pd.DataFrame, period: int | None, *, positional: bool) -> Any:
        prophet = _prophet_class()
        options: dict[str, Any] = {
            "interval_width": self.interval_width,
            "seasonality_mode": self.seasonality_mode,
            "changepoint_prior_scale": self.changepoint_prior_scale,
            "uncertainty_samples": self.uncertainty_samples,
            "weekly_seasonality": self.weekly_seasonality,
            "yearly_seasonality": self.yearly_seasonality,
            "daily_seasonality": self.daily_seasonality,
        }
        if positional:
            # Calendar seasonalities mean nothing on synthetic dates: use only the caller's period.
            options.update(weekly_seasonality=False, yearly_seasonality=False, daily_seasonality=False)
        model = prophet(**options)
        if positional and period is not None and period >= 2:
            model.add_seasonality(name="period", period=float(period), fourier_order=max(1, min(5, period // 2)))
        if self.holidays_country is not None:
            model.add_country_holidays(country_name=self.holidays_country)
        model.fit(train)
        state = np.random.get_state()
        try:
            np.random.seed(self.seed)
            return model.predict(future)
        finally:
            np.random.set_state(state)


@functools.cache
def _prophet_class() -> Any:
    # Imported on first use: the import costs about a second that users of other detectors should not pay.
    from cmdstanpy.utils import get_logger
    from prophet import Prophet

    # cmdstanpy and prophet log every fit at INFO; at thousands of series that buries everything else.
    # cmdstanpy sets its level on its first get_logger() call (cached), so make that call first.
    get_logger().setLevel(logging.WARNING)
    logging.getLogger("prophet").setLevel(logging.WARNING)
    return Prophet


def _is_positional(s: pd.Series) -> bool:
    return not isinstance(s.index, pd.DatetimeIndex)


def _prophet_timestamps(s: pd.Series, period: int | None) -> pd.DatetimeIndex:
    if not _is_positional(s):
        index = s.index
        # Prophet refuses time zones: compare in UTC wall time.
        return index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index
    if period is None:
        raise LupusValidationError("period", "is required when the series is indexed by position, not by timestamps")
    if period < 1:
        raise LupusValidationError("period", "must be a positive number of points", value=period)
    return _POSITIONAL_ORIGIN + pd.to_timedelta(np.arange(len(s)), unit="D")
