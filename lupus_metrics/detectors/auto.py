"""The ``auto`` detector: the default for a rule that names no detector. Nothing to tune but a budget.

It detects the data's step and season (a weekly pattern for daily data, a daily one for
sub-daily data, kept only as strong as the data shows it), forecasts each point one step
ahead from a robust seasonal baseline of earlier points, floors the spread by the point's
``stderr`` and the rule's practical minimum, and flags a point when it lies beyond a threshold
calibrated on the series' own out-of-sample residuals so that clean data raises about
``budget`` false alerts per series. A second test catches level shifts that are too small
for the point test: ``shift_window`` points in a row all beyond a (lower, also calibrated)
threshold on the same side. A confirmed shift becomes the new normal at once. Flagged points,
holidays and excluded points (days whose blocking check failed) stay out of later baselines.
See :mod:`lupus_metrics.detectors.auto_engine` for the exact steps.

Example:
    >>> import numpy as np, pandas as pd
    >>> days = pd.date_range("2026-01-05", periods=120, freq="D", tz="UTC")
    >>> rng = np.random.default_rng(1)
    >>> values = 100 + 20 * (days.dayofweek >= 5) + rng.normal(0, 2, 120)
    >>> values[100] = 80.0  # a dip of 10 noise units on a weekday
    >>> out = AutoDetector().detect(pd.Series(values, index=days))
    >>> out.index[out["is_anomaly"]].strftime("%m-%d").tolist()
    ['04-15']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_serializer, field_validator

from lupus_metrics.detectors.auto_engine import EngineConfig, run_engine
from lupus_metrics.detectors.bands import Direction
from lupus_metrics.detectors.base import Detector, Verdict, verdict
from lupus_metrics.detectors.budget import Budget
from lupus_metrics.detectors.noise import NoiseFloor, SeriesInfo, excluded_of, is_count, series_scale, stderr_of
from lupus_metrics.detectors.timing import DAY_NS, describe_step, sampling_step, seasonal_period, slots_of

#: The default alert budget: false alerts per series.
DEFAULT_BUDGET = "0.5/year"
#: Share of the budget spent on the shift test; the point test gets the rest.
SHIFT_SHARE = 0.15
_CYCLES = 12  # seasonal periods averaged into each phase's offset
_LEVEL_CYCLES = 2  # seasonal periods averaged into the level
_SPREAD_CYCLES = 8  # seasonal periods of residuals behind the spread
_CALIBRATION_CYCLES = 52  # seasonal periods of residuals the thresholds are calibrated on
_PLAIN_CALIBRATION = 364  # ... for data without a season


class AutoDetector(Detector, NoiseFloor):
    """Robust seasonal one-step forecast, spread floored by ``stderr``, threshold calibrated to a budget.

    ``expected`` is the one-step forecast, ``lower``/``upper`` the band of the point test,
    ``score`` the signed deviation in spreads (the band's edge is at ``±threshold``, recorded
    with every verdict). Points before ``min_history`` points of history are not judged.
    """

    kind: ClassVar[str] = "auto"
    parallel: ClassVar[bool] = True
    causal: ClassVar[bool] = True
    uses_series_info: ClassVar[bool] = True

    budget: str = Field(
        default=DEFAULT_BUDGET,
        description="False alerts per series the rule may raise on clean data: '0.25/year', '1/quarter', ...",
    )
    direction: Direction = Field(default="both", description="Which side is an anomaly: `both`, `up` or `down`.")
    seasonality: Literal["auto", "none"] | int = Field(
        default="auto",
        description="`auto`: weekly for daily data, daily for sub-daily; `none`; or a period in points.",
    )
    holidays: str | None = Field(
        default=None, description="Country code (e.g. `JP`) whose public holidays are neither alerted nor learned from."
    )
    min_history: int | None = Field(
        default=None, ge=7, description="Points of history before the first verdict (default: five seasons, or 28)."
    )
    shift_window: int = Field(default=3, ge=2, le=14, description="Points in a row the shift test looks at.")
    transform: Literal["none", "sqrt"] = Field(
        default="none", description="`sqrt`: judge counts on Anscombe's square-root scale (Poisson-like noise)."
    )

    @field_validator("budget", mode="before")
    @classmethod
    def _budget(cls, value: Any) -> str:
        return str(Budget.parse(value))

    @field_validator("seasonality")
    @classmethod
    def _period(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and value < 1:
            raise ValueError("a seasonal period must be a positive number of points")
        return value

    @field_validator("holidays")
    @classmethod
    def _known_country(cls, country: str | None) -> str | None:
        if country is not None:
            import holidays

            if country not in holidays.list_supported_countries():
                raise ValueError(f"unknown country {country!r}; use an ISO code such as 'JP' or 'US'")
        return country

    @field_serializer("seasonality")
    def _dump_seasonality(self, value: Any) -> Any:
        return value

    def judge(self, series: pd.Series, *, period: int | None = None, info: SeriesInfo | None = None) -> Verdict:
        """Judge every point of ``series`` (one step ahead, causal)."""
        return self.judge_many([series], period=period, infos=[info])[0]

    def judge_many(
        self,
        series: Sequence[pd.Series],
        *,
        period: int | None = None,
        infos: Sequence[SeriesInfo | None] | None = None,
    ) -> list[Verdict]:
        """Judge every series; series with the same step and season share one engine run."""
        infos = list(infos) if infos is not None else [None] * len(series)
        layouts = [self._layout(s, period) for s in series]
        verdicts: list[Verdict | None] = [None] * len(series)
        groups: dict[tuple[int, int], list[int]] = {}
        for position, layout in enumerate(layouts):
            groups.setdefault((layout.step, layout.period), []).append(position)
        for (step, season), members in groups.items():
            for chunk in _chunks(members, layouts):
                for position, result in zip(chunk, self._run(chunk, series, infos, layouts, step, season), strict=True):
                    verdicts[position] = result
        return [v for v in verdicts if v is not None]

    def config(self, *, step_ns: int, period: int) -> EngineConfig:
        """The engine's windows for data with this step and seasonal period."""
        share = Budget.parse(self.budget).share_of_points(step_seconds=step_ns / 1e9)
        if period > 1:
            windows = dict(
                level_window=_LEVEL_CYCLES * period, cycles=_CYCLES, trend_window=_CYCLES * period,
                spread_window=_SPREAD_CYCLES * period,
                calibration_window=_CALIBRATION_CYCLES * period, recalibrate_every=period,
                min_history=self.min_history or 5 * period,
            )  # fmt: skip
        else:
            windows = dict(
                level_window=7, cycles=0, trend_window=28, spread_window=56, calibration_window=_PLAIN_CALIBRATION,
                recalibrate_every=7, min_history=self.min_history or 28,
            )  # fmt: skip
        return EngineConfig(
            period=period, alpha_point=share * (1 - SHIFT_SHARE), alpha_shift=share * SHIFT_SHARE,
            shift_window=self.shift_window, min_delta=self.min_delta, min_relative_delta=self.min_relative_delta,
            **windows,
        )  # fmt: skip

    def _layout(self, s: pd.Series, period: int | None) -> _Layout:
        if isinstance(s.index, pd.DatetimeIndex):
            step = sampling_step(s.index)
            slots = slots_of(s.index, step)
            season = seasonal_period(step)
        else:
            # A positional series: one slot per point, read as daily for the budget.
            step, slots, season = DAY_NS, np.arange(len(s), dtype="int64"), period or 1
        if self.seasonality == "none":
            season = 1
        elif isinstance(self.seasonality, int):
            season = self.seasonality
        elif period is not None:
            season = period
        return _Layout(step, season, slots)

    def _run(
        self,
        chunk: list[int],
        series: Sequence[pd.Series],
        infos: Sequence[SeriesInfo | None],
        layouts: Sequence[_Layout],
        step: int,
        season: int,
    ) -> list[Verdict]:
        first = min(int(layouts[p].slots.min()) for p in chunk if len(layouts[p].slots))
        last = max(int(layouts[p].slots.max()) for p in chunk if len(layouts[p].slots))
        width = last - first + 1
        shape = (len(chunk), width)
        y, se, support = np.full(shape, np.nan), np.zeros(shape), np.full(shape, np.nan)
        excluded, holiday = np.zeros(shape, bool), np.zeros(shape, bool)
        scale = np.ones(len(chunk))
        rooted = np.zeros(len(chunk), dtype=bool)
        columns = []
        for row, position in enumerate(chunk):
            s, info, layout = series[position], infos[position], layouts[position]
            column = layout.slots - first
            columns.append(column)
            values = s.to_numpy(dtype="float64")
            rooted[row] = self.transform == "sqrt"
            if rooted[row]:
                values, errors = _anscombe(values, stderr_of(info, len(s), values))
            else:
                errors = stderr_of(info, len(s), values)
            y[row, column] = values
            se[row, column] = errors
            if not rooted[row] and info is not None and info.n is not None:
                support[row, column] = np.asarray(info.n, dtype="float64")
            excluded[row, column] = excluded_of(info, len(s))
            scale[row] = series_scale(values)
        if self.holidays is not None:
            holiday[:] = _holiday_slots(self.holidays, first, width, step)[None, :]
        config = self.config(step_ns=step, period=season)
        counts = np.array([not rooted[row] and infos[p] is not None and is_count(infos[p].metric)
                           for row, p in enumerate(chunk)], dtype=bool)  # fmt: skip
        result = run_engine(y, se, excluded, holiday, scale, first_slot=first, config=config,
                            min_delta=self._deltas(rooted, scale), counts=counts, support=support)  # fmt: skip
        sides = {"both": (True, True), "up": (True, False), "down": (False, True)}[self.direction]
        details = {"period": season, "step": describe_step(step)}
        verdicts = []
        for row, (position, column) in enumerate(zip(chunk, columns, strict=True)):
            score = result.score[row, column]
            shift_sign = result.shift_sign[row, column]
            flagged = result.point_flag[row, column] | result.shift_flag[row, column]
            direction = np.where(result.point_flag[row, column], np.sign(score), shift_sign)
            watched = ((direction > 0) & sides[0]) | ((direction < 0) & sides[1])
            band = (result.expected[row, column], result.lower[row, column], result.upper[row, column])
            if rooted[row]:
                band = tuple(_anscombe_inverse(x) for x in band)
            verdicts.append(
                verdict(
                    series[position], expected=band[0], lower=band[1], upper=band[2], score=score,
                    is_anomaly=flagged & watched & ~holiday[row, column],
                    threshold=result.tau_point[row, column], shift_threshold=result.tau_shift[row, column],
                    details=details,
                )
            )  # fmt: skip
        return verdicts

    def _deltas(self, rooted: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``min_delta`` and ``min_relative_delta`` per row, in the units the engine sees.

        On the square-root scale a change of ``d`` near the level ``x`` is about ``d / sqrt(x)``
        (``scale`` is already the typical square-rooted value, ``2 sqrt(x)``), and a relative change
        of ``r`` is about ``r / 2``.
        """
        absolute = np.full(len(rooted), self.min_delta or 0.0)
        relative = np.full(len(rooted), self.min_relative_delta or 0.0)
        absolute = np.where(rooted, absolute * 2 / np.maximum(scale, 1e-9), absolute)
        relative = np.where(rooted, relative / 2, relative)
        return absolute, relative


def _anscombe(values: np.ndarray, stderr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts on Anscombe's square-root scale ``2 sqrt(x + 3/8)``, where Poisson noise has unit variance
    and overdispersed counts vary far less with their level; standard errors by the delta method.
    """
    with np.errstate(invalid="ignore"):
        rooted = 2 * np.sqrt(np.maximum(values, 0.0) + 0.375)
    return np.where(np.isnan(values), np.nan, rooted), stderr / np.maximum(rooted / 2, 1e-9)


def _anscombe_inverse(rooted: np.ndarray) -> np.ndarray:
    return (np.maximum(rooted, 0.0) / 2) ** 2 - 0.375


class _Layout:
    """Where a series' points sit on its grid."""

    __slots__ = ("period", "slots", "step")

    def __init__(self, step: int, period: int, slots: np.ndarray) -> None:
        self.step, self.period, self.slots = step, period, slots


def _chunks(members: list[int], layouts: Sequence[_Layout]) -> list[list[int]]:
    """Members grouped so that one grid does not span far more slots than its longest series.

    A series that started years before the others would otherwise stretch every row of the grid.
    """
    spans = {p: (int(layouts[p].slots.min()), int(layouts[p].slots.max())) for p in members if len(layouts[p].slots)}
    chunks: list[list[int]] = [[p] for p in members if p not in spans]
    current: list[int] = []
    start = end = longest = 0
    for position in sorted(spans, key=lambda p: spans[p][0]):
        first, last = spans[position]
        length = last - first + 1
        if current and max(end, last) - start + 1 <= 2 * max(longest, length) + 64:
            current.append(position)
            end, longest = max(end, last), max(longest, length)
            continue
        if current:
            chunks.append(current)
        current, start, end, longest = [position], first, last, length
    if current:
        chunks.append(current)
    return chunks


def _holiday_slots(country: str, first: int, width: int, step: int) -> np.ndarray:
    """Whether each slot of the grid falls on a public holiday of ``country`` (UTC dates)."""
    import holidays

    from lupus_metrics.detectors.timing import ORIGIN_NS

    starts = pd.to_datetime(ORIGIN_NS + (first + np.arange(width)) * np.int64(step), unit="ns")
    years = range(starts[0].year, starts[-1].year + 1)
    calendar = holidays.country_holidays(country, years=years)
    dates = starts.normalize().date
    return np.fromiter((day in calendar for day in dates), dtype=bool, count=width)
