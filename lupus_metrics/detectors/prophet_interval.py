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

Prophet's own interval is overconfident on real data (its nominal 99 % band left about 7 % of
clean days outside on an unseen product), so the band is **calibrated**: each side's half-widths
are multiplied by the threshold that the series' own scores pass on that side at half the nominal
rate (``1 - interval_width``, or the ``budget`` when given), read by the tail model of
:mod:`~lupus_metrics.detectors.calibration` (per side, since small counts are skewed; on the number
of independent scores the scores are worth, since a forecast stays off for days after a step of
the level). In ``next_step`` mode the scores are out of sample: ``calibration_folds`` extra fits,
each on the history before a fold, forecast that fold (rolling origin over the second half of the
history). In ``in_sample`` mode they are the fit's own. The larger threshold is recorded in each
verdict's parameters (``threshold``). The band's half-width is never below ``stderr`` times the
nominal Gaussian quantile, ``min_delta`` or ``min_relative_delta``; excluded points (days whose
check failed) are left out of every fit. With ``holidays_country``, a holiday that no training
point shares a name with has no learned effect: it is not judged (nor scored for the calibration).

Example:
    >>> import numpy as np, pandas as pd
    >>> days = pd.date_range("2026-01-01", periods=56, freq="D")
    >>> s = pd.Series(100 + 10 * (days.dayofweek >= 5) + np.tile([0.5, -0.5], 28), index=days)
    >>> s.iloc[-1] = 300.0
    >>> ProphetDetector(mode="next_step", calibration_folds=0).detect(s)["is_anomaly"].tolist()[-3:]
    [False, False, True]
"""

from __future__ import annotations

import functools
import itertools
import logging
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from lupus_metrics.detectors.bands import Direction, is_outside
from lupus_metrics.detectors.base import Detector, Verdict, verdict
from lupus_metrics.detectors.budget import Budget
from lupus_metrics.detectors.calibration import effective_count, gaussian_threshold, side_thresholds
from lupus_metrics.detectors.noise import NoiseFloor, SeriesInfo, excluded_of, stderr_of
from lupus_metrics.detectors.timing import DAY_NS, sampling_step
from lupus_metrics.errors import LupusValidationError

Seasonality = bool | Literal["auto"]
# Positional series get synthetic daily timestamps from this origin, with one seasonality of length `period`.
_POSITIONAL_ORIGIN = pd.Timestamp("2000-01-01")


class ProphetDetector(Detector, NoiseFloor):
    """Judges points against Prophet's forecast interval, calibrated.

    ``expected`` is ``yhat``; ``lower``/``upper`` are ``yhat`` minus/plus each side's calibrated threshold
    times Prophet's half-widths (``yhat - yhat_lower`` below, ``yhat_upper - yhat`` above), floored;
    ``score`` is the signed distance from ``yhat`` in Prophet's half-widths, rescaled where a floor or the
    other side's threshold sets the band, so a point is outside the band when ``|score| > threshold``.
    """

    kind: ClassVar[str] = "prophet"
    uses_series_info: ClassVar[bool] = True

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
    budget: str | None = Field(
        default=None,
        description="False alerts per series to calibrate to ('1/quarter'); default: the rate 1 - interval_width.",
    )
    calibration_folds: int = Field(
        default=4, ge=0, le=20, description="`next_step`: extra fits giving out-of-sample scores; 0: no calibration."
    )

    @field_validator("budget", mode="before")
    @classmethod
    def _budget(cls, value: Any) -> str | None:
        return None if value is None else str(Budget.parse(value))

    @field_validator("holidays_country")
    @classmethod
    def _known_country(cls, country: str | None) -> str | None:
        if country is not None:
            import holidays

            if country not in holidays.list_supported_countries():
                raise ValueError(f"unknown country {country!r}; use an ISO code such as 'JP' or 'US'")
        return country

    def judge(self, series: pd.Series, *, period: int | None = None, info: SeriesInfo | None = None) -> Verdict:
        """Fit Prophet and judge the points of the chosen ``mode``."""
        ds = _prophet_timestamps(series, period)
        # Prophet returns its forecast sorted by date: work in date order, answer in the caller's.
        order = np.argsort(ds.asi8, kind="stable")
        ds, values = ds[order], series.to_numpy()[order]
        stderr = stderr_of(info, len(series), series.to_numpy())[order]
        values = np.where(excluded_of(info, len(series))[order], np.nan, values)  # out of every fit
        positional = _is_positional(series)
        n = len(values)
        judged = n if self.mode == "in_sample" else min(self.horizon, n)
        train_end = n if self.mode == "in_sample" else n - judged
        bands = np.full((n, 3), np.nan)  # yhat, lower half-width, upper half-width
        if np.count_nonzero(~np.isnan(values[:train_end])) >= self.min_history:
            target = np.arange(n - judged, n)
            bands[target] = self._bands(ds, values, train_end, target, period, positional)
        alpha = self._nominal_rate(ds)
        tau_below, tau_above = self._threshold(ds, values, train_end, bands, period, positional, alpha)
        tau = max(tau_below, tau_above)  # the one recorded; scores are scaled to it
        expected, below, above = bands[:, 0], bands[:, 1], bands[:, 2]
        floor = self._floor(expected, stderr, alpha)
        with np.errstate(invalid="ignore", divide="ignore"):
            lower = expected - np.maximum(tau_below * below, floor)
            upper = expected + np.maximum(tau_above * above, floor)
            deviation = series.to_numpy()[order] - expected
            # Scores in Prophet's half-widths, stretched where a floor widened the band or a side's
            # threshold is below the other's, so that |score| > threshold exactly outside [lower, upper].
            side = np.where(deviation >= 0, upper - expected, expected - lower)
            score = np.where(side > 0, deviation / side * tau, np.where(deviation == 0, 0.0, np.nan))
        inverse = np.empty(n, dtype=int)
        inverse[order] = np.arange(n)
        judged_points = ~np.isnan(expected)
        return verdict(
            series, expected=expected[inverse], lower=lower[inverse], upper=upper[inverse], score=score[inverse],
            is_anomaly=is_outside(score, tau, self.direction)[inverse],
            threshold=np.where(judged_points, tau, np.nan)[inverse],
        )  # fmt: skip

    def _bands(
        self, ds: pd.DatetimeIndex, values: np.ndarray, train_end: int, target: np.ndarray, period: int | None,
        positional: bool,
    ) -> np.ndarray:  # fmt: skip
        """yhat and the lower/upper half-widths of Prophet's interval at ``target``, fitted on ``[:train_end]``."""
        train = pd.DataFrame({"ds": ds[:train_end], "y": values[:train_end]}).dropna()
        forecast = self._forecast(train, pd.DataFrame({"ds": ds[target]}), period, positional=positional)
        yhat = forecast["yhat"].to_numpy()
        bands = np.column_stack(
            [yhat, yhat - forecast["yhat_lower"].to_numpy(), forecast["yhat_upper"].to_numpy() - yhat]
        )
        # A holiday the training points never saw has no learned effect (Prophet forecasts an ordinary
        # day): it is not judged, nor scored for the calibration.
        bands[self._unseen_holidays(pd.DatetimeIndex(train["ds"]), ds[target])] = np.nan
        return bands

    def _unseen_holidays(self, train: pd.DatetimeIndex, target: pd.DatetimeIndex) -> np.ndarray:
        """Which ``target`` dates are public holidays of ``holidays_country`` that no ``train`` date shares a name with."""
        if self.holidays_country is None or not len(target):
            return np.zeros(len(target), dtype=bool)
        dates = train.append(target)
        calendar = _holiday_calendar(self.holidays_country, dates.min().year, dates.max().year)
        seen = {calendar[day] for day in train.date if day in calendar}
        return np.array([day in calendar and calendar[day] not in seen for day in target.date])

    def _threshold(
        self, ds: pd.DatetimeIndex, values: np.ndarray, train_end: int, bands: np.ndarray, period: int | None,
        positional: bool, alpha: float,
    ) -> tuple[float, float]:  # fmt: skip
        """The multipliers of Prophet's lower and upper half-widths that the series' own scores pass, each
        side at rate ``alpha / 2``."""
        if self.mode == "in_sample":
            runs = [_scores(values, bands)]
        elif self.calibration_folds:
            runs = self._out_of_sample_scores(ds, values, train_end, period, positional)
        else:
            return 1.0, 1.0
        scores = np.concatenate(runs) if runs else np.array([])
        if not np.isfinite(scores).any():
            return 1.0, 1.0
        # Scores in half-widths of a band that claims the nominal coverage are z-scores divided by the
        # nominal Gaussian quantile: calibrate them as z-scores, answer in half-widths. A forecast stays
        # off for days after a step of the level (a whole fold, for a stepped metric), so its scores come
        # in clumps: calibrate on the number of independent scores they are worth. Each side on its own:
        # a small count's errors are skewed (it cannot fall far below its mean, it can rise far above).
        quantile = float(gaussian_threshold(alpha))
        below, above = side_thresholds(scores * quantile, alpha, effective=effective_count(runs))
        return below / quantile, above / quantile

    def _out_of_sample_scores(
        self, ds: pd.DatetimeIndex, values: np.ndarray, train_end: int, period: int | None, positional: bool
    ) -> list[np.ndarray]:
        """Scores of the second half of the training history, one array per fold, each fold forecast from the
        history before it."""
        present = np.flatnonzero(~np.isnan(values[:train_end]))
        if len(present) < 2 * self.min_history:
            return []
        origins = np.linspace(present[len(present) // 2], train_end, self.calibration_folds + 1).astype(int)
        scores = []
        for begin, stop in itertools.pairwise(origins):
            if stop <= begin or np.count_nonzero(~np.isnan(values[:begin])) < self.min_history:
                continue
            target = np.arange(begin, stop)
            fold = self._bands(ds, values, begin, target, period, positional)
            scores.append(_scores(values[target], fold))
        return scores

    def _nominal_rate(self, ds: pd.DatetimeIndex) -> float:
        if self.budget is None:
            return 1.0 - self.interval_width
        step = sampling_step(ds) if len(ds) > 1 else DAY_NS
        return Budget.parse(self.budget).share_of_points(step_seconds=step / 1e9)

    def _floor(self, expected: np.ndarray, stderr: np.ndarray, alpha: float) -> np.ndarray:
        """The least half-width: ``stderr`` x the nominal Gaussian quantile, ``min_delta``, ``min_relative_delta``."""
        floor = stderr * float(gaussian_threshold(alpha))
        if self.min_delta:
            floor = np.maximum(floor, self.min_delta)
        if self.min_relative_delta:
            floor = np.maximum(floor, self.min_relative_delta * np.abs(expected))
        return floor

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


@functools.cache
def _holiday_calendar(country: str, first_year: int, last_year: int) -> dict[Any, str]:
    """Date -> holiday name(s) of ``country`` over the years (cached: every fold of every run asks again)."""
    import holidays

    return dict(holidays.country_holidays(country, years=range(first_year, last_year + 1)))


def _scores(values: np.ndarray, bands: np.ndarray) -> np.ndarray:
    """Signed distance of ``values`` from yhat in the half-width of its side of Prophet's interval."""
    deviation = values - bands[:, 0]
    side = np.where(deviation >= 0, bands[:, 2], bands[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(side > 0, deviation / side, np.where(deviation == 0, 0.0, np.nan))


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
