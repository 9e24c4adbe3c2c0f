"""The per-step engine of the ``auto`` detector, vectorised across series.

Series arrive on one regular grid (rows = series, columns = time slots, NaN = no point). One
loop over the slots updates every series at once; each step uses only earlier slots, so every
verdict is causal, and what a step flags is left out of later steps' baselines.

Per slot ``t`` and series:

* **baseline** ``expected = level + offset``. ``level`` is the mean of the last ``level_window``
  cleaned values (one seasonal period: the season averages out). ``offset`` is the mean, over the
  last ``cycles`` periods, of the same-phase cleaned values minus the level they were predicted
  from, shrunk towards the all-phase mean by the measured seasonal strength (so a series without
  a weekly pattern gets none). Both level and offsets lag the same way, so a linear trend cancels.
* **small counts** (count metrics forecast below 50) are scored by their tail probability under a
  negative binomial with that mean (:mod:`~lupus_metrics.detectors.count_scores`) and the variance
  ``index x mean``, ``index`` (at least 1, a Poisson) the mean of the clean points' squared residuals
  over their forecasts in the calibration window: a count's variance moves with its mean, and a
  year of points estimates the ratio far more steadily than the spread window's 56 (on the tuning
  seeds a sparse series' spread window gave 3.7 for a Poisson of mean 1.9, and a 6-unit spike scored 3.0).
* **spread** ``sqrt(v + stderr_t^2)``: ``v`` is the mean squared residual, less its sampling
  part, over the last ``spread_window`` clean points (residuals clipped at 3 spreads); ``stderr_t``
  is the one the point would have if it were normal (from its ``n`` when known); then
  floored (:func:`~lupus_metrics.detectors.noise.floored_spread`).
* **point test**: ``|z| > tau_point`` with ``z = (value - expected) / spread``.
* **shift test**: the last ``shift_window`` z-scores all on one side and all beyond
  ``tau_shift``: catches a level shift too small for the point test within a few points.
  ``tau_shift`` is the quantile of the clean z-scores that ``shift_window`` independent scores
  would all pass, on one side, with probability ``alpha_shift / 2``: a moderate quantile (about the
  91st percentile for three points and a budget of 0.25/year on daily data), read off the data.
* **accumulated-evidence test**: the sum of the last ``shift_window`` z-scores over
  ``sqrt(shift_window)``, when all are on one side, none flagged by the point test, each clipped at
  ``tau_point``, beyond ``tau_sum``: catches a shift whose days each stay under both thresholds above
  (scores of 3.2, 1.0 and 2.9 spreads against a point threshold of 3.5 sum to 4.1). ``tau_sum`` is
  calibrated like ``tau_point``, at ``alpha_sum``, on the statistic of the series' own clean windows.
* **cleaning**: a clean point enters later baselines Huber-clipped at ``huber`` spreads; a
  flagged, excluded or holiday point enters as its own expected value (imputed), so an incident
  neither drags the level nor widens the spread.
* **sticky metrics** (values repeating exactly on at least half the steps of the spread window,
  so that MAD and most residuals are 0): the forecast is the last cleaned value, and a clean step
  is taken whole. The spread is the root mean square of the steps over the calibration window (each
  clipped at 3 spreads, as every residual: a missed spike teaches its step and its return, and unclipped
  a 4-unit one doubled the spread of a series with a dozen steps a year). The thresholds come from the
  steps' scores, zeros included, re-read against today's spread (:func:`_restandardized`). A flagged
  step that the next value repeats exactly is a step, not a spike: it becomes the new normal at once, so
  a lasting step alerts on its first day only.
* **a lasting change becomes the new normal**: when either shift test fires, the change is taken
  as lasting: every earlier cleaned value is moved by the median residual of the shift window
  and the window's own values enter the baseline as they are. The next point is judged against
  the new level; a one-point spike cannot trigger it (the window needs all its points beyond).
* **calibration** (flagged points up to 1.5 thresholds count as exceedances of unknown size, so the
  calibration sample is not truncated at the threshold; larger ones are incidents and stay out) every ``recalibrate_every`` slots (anchored to absolute slot numbers, so any
  run over the same data recalibrates on the same slots): ``tau_point``, ``tau_shift`` and ``tau_sum`` from
  the clean z-scores (and shift statistics) of the last ``calibration_window`` slots, by the tail
  model of :mod:`~lupus_metrics.detectors.calibration`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lupus_metrics.detectors.calibration import thresholds
from lupus_metrics.detectors.count_scores import SMALL_MEAN, count_band, count_scores
from lupus_metrics.detectors.noise import floored_spread

# Residuals enter the spread estimate clipped at this many spreads (E[min(Z^2, 9)] = 0.97 for Gaussian
# noise): one sub-threshold outlier cannot double the spread.
_SPREAD_CLIP = 3.0
# Fewest clean residuals in the spread window before a point is judged.
_MIN_SPREAD_POINTS = 10
# Fewest clean small-count residuals before their dispersion index replaces the spread window's variance.
_MIN_DISPERSION_POINTS = 56
# The least mean a count is scored with: a forecast of zero events would make any event infinitely rare.
_LEAST_COUNT_MEAN = 0.05
# Flagged points up to this many thresholds enter the calibration as censored exceedances; larger ones
# are incidents and stay out (P(|z| > 1.5 tau) = alpha ** (1.5 ** k): below alpha / 6 for a Weibull shape k >= 0.6
# at a budget of 0.5/year on daily data).
_CENSOR_LIMIT = 1.5
# A series whose values repeat exactly on at least this share of steps, and this much more often than chance,
# is sticky (a stepped metric).
_STICKY_SHARE = 0.5
_STICKY_EXCESS = 0.25


@dataclass(frozen=True)
class EngineConfig:
    """Windows (in slots) and rates of one engine run; see the module docstring."""

    period: int
    level_window: int
    cycles: int
    trend_window: int
    spread_window: int
    calibration_window: int
    recalibrate_every: int
    min_history: int
    alpha_point: float
    alpha_shift: float
    shift_window: int = 3
    alpha_sum: float = 0.0
    huber: float = 2.5
    min_delta: float | None = None
    min_relative_delta: float | None = None

    @property
    def memory(self) -> int:
        """Slots of history a verdict depends on (besides the flags within them)."""
        return self.calibration_window + self.spread_window + self.cycles * self.period + self.level_window


@dataclass(frozen=True)
class EngineResult:
    """Per series and slot: expected, band, z-score, the two tests and the thresholds used."""

    expected: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    score: np.ndarray
    point_flag: np.ndarray
    shift_flag: np.ndarray
    shift_sign: np.ndarray
    tau_point: np.ndarray
    tau_shift: np.ndarray
    tau_sum: np.ndarray


def run_engine(
    y: np.ndarray,
    stderr: np.ndarray,
    excluded: np.ndarray,
    holiday: np.ndarray,
    scale: np.ndarray,
    *,
    first_slot: int,
    config: EngineConfig,
    min_delta: tuple[np.ndarray, np.ndarray] | None = None,
    counts: np.ndarray | None = None,
    support: np.ndarray | None = None,
) -> EngineResult:
    """Judge every slot of every row of ``y`` (S x T); ``first_slot`` is column 0's absolute slot number.

    ``stderr`` (0 = unknown), ``excluded`` and ``holiday`` are S x T; ``scale`` (S) is each series'
    typical magnitude, for the flat-history floor. ``min_delta``: per-row ``(min_delta,
    min_relative_delta)`` overriding the config's scalars. ``counts`` (S booleans): rows holding
    counts, whose small values are scored by :func:`~lupus_metrics.detectors.count_scores.count_scores`.
    ``support`` (S x T, NaN = unknown): each point's ``n``; with it a point is judged with the
    standard error it would have if it were normal (:func:`_null_stderr`), not the one its own
    (possibly anomalous) value implies.
    """
    cfg = config
    rows, slots = y.shape
    period, level_window, cycles, w = cfg.period, cfg.level_window, cfg.cycles, cfg.shift_window
    observed = ~np.isnan(y)
    first_seen = np.where(observed.any(axis=1), observed.argmax(axis=1), slots)

    cleaned = np.full((rows, slots), np.nan)  # the values later baselines see
    delta = np.full((rows, slots), np.nan)  # cleaned value minus the level it was predicted from
    residual = np.full((rows, slots), np.nan)
    z_all = np.full((rows, slots), np.nan)  # every judged z (the shift test reads it)
    z_clean = np.full((rows, slots), np.nan)  # z of clean points only (calibration sample)
    sum_clean = np.full((rows, slots), np.nan)  # accumulated-evidence statistics of clean windows (calibration)
    teach = _Teaching(rows, slots, stderr)
    # Precision weights of the cleaned values (1 / their variance): a rate measured on few users counts
    # for less in the level and offsets than one measured on many.
    weight = np.full((rows, slots), np.nan)  # NaN: not known yet (a window's mean weight stands in)

    out_expected = np.full((rows, slots), np.nan)
    out_spread = np.full((rows, slots), np.nan)
    out_tau = np.full((rows, slots), np.nan)
    scored_as_count = np.zeros((rows, slots), dtype=bool)
    counts = np.zeros(rows, dtype=bool) if counts is None else counts
    out_tau_shift = np.full((rows, slots), np.nan)
    out_tau_sum = np.full((rows, slots), np.nan)
    point_flag = np.zeros((rows, slots), dtype=bool)
    shift_flag = np.zeros((rows, slots), dtype=bool)
    shift_sign = np.zeros((rows, slots))
    last_rebase = np.full(rows, -(10**9))

    all_rows = np.arange(rows)
    # Prefix sums of clean counts' squared residuals over their forecast (the dispersion index of a count series).
    dispersion_total = np.zeros((rows, slots + 1))
    dispersion_count = np.zeros((rows, slots + 1))
    absolute, relative = min_delta if min_delta is not None else (cfg.min_delta, cfg.min_relative_delta)
    absolute = np.zeros(rows) + (0.0 if absolute is None else absolute)
    relative = np.zeros(rows) + (0.0 if relative is None else relative)
    has_minimum = bool(np.any(absolute) or np.any(relative))
    tau_point = tau_shift = None
    tau_sum = np.full(rows, np.nan)  # NaN: no accumulated-evidence test (a comparison with NaN never flags)
    strength = np.zeros(rows)
    sticky = np.zeros(rows, dtype=bool)
    last_cleaned = np.full(rows, np.nan)
    unit_error = np.full(rows, np.nan)  # typical stderr x sqrt(n): the per-unit spread behind the stderr
    support = np.full((rows, slots), np.nan) if support is None else support

    for t in range(slots):
        if tau_point is None or (first_slot + t) % cfg.recalibrate_every == 0:
            lo = max(0, t - cfg.calibration_window)
            sample = _restandardized(
                z_clean[:, lo:t], out_spread[:, lo:t], sticky, teach.step_variance(t, cfg.calibration_window)
            )
            tau_point, tau_shift = thresholds(sample, cfg.alpha_point, shift_alpha=cfg.alpha_shift, shift_window=w)
            if cfg.alpha_sum > 0:
                tau_sum = thresholds(sum_clean[:, lo:t], cfg.alpha_sum)[0]
            strength = (
                _seasonal_strength(delta[:, max(0, t - cycles * period) : t], t, period) if period > 1 else strength
            )
            sticky = _stickiness(y[:, max(0, t - cfg.spread_window) : t], sticky)
            recent = slice(max(0, t - cfg.spread_window), t)
            unit_error = _unit_error(stderr[:, recent], support[:, recent], excluded[:, recent], unit_error)

        if t > 0:
            # A sticky series that repeats a value flagged yesterday has stepped, not spiked (a spike returns):
            # the step is confirmed at once and becomes the new normal, so a lasting step alerts on its first
            # day only instead of on every day until the run test confirms it.
            confirmed = all_rows[_repeats_flagged_step(y, t, sticky, point_flag, shift_flag, excluded, holiday)]
            if len(confirmed):
                _rebase(confirmed, sticky[confirmed], t - 1, 1, y, residual, z_all, cleaned, delta, excluded, holiday,
                        z_clean, teach, level_window)  # fmt: skip
                last_rebase[confirmed] = t - 1
                last_cleaned[confirmed] = cleaned[confirmed, t - 1]
        recent = slice(max(0, t - level_window), t)
        level = _window_mean(cleaned[:, recent], minimum=(level_window + 1) // 2, weights=weight[:, recent])
        recent = slice(max(0, t - cfg.trend_window), t)
        trend = _window_mean(delta[:, recent], minimum=max(2, cfg.trend_window // 4), weights=weight[:, recent])
        if period > 1:
            lags = t - period * np.arange(1, cycles + 1)
            lags = lags[lags >= 0]
            phase = _window_mean(delta[:, lags], minimum=2, weights=weight[:, lags])
            offset = np.where(np.isnan(phase), trend, trend + strength * (phase - trend))
        else:
            offset = trend
        # A sticky series keeps its last value until it steps: yesterday's value is the forecast.
        expected = np.where(sticky, last_cleaned, level + offset)

        # A sticky series' spread is the size of its steps (over the calibration window: they are rare);
        # its scores are then zero between steps and about standard normal on them.
        # Until it has stepped a few times it is not judged.
        v = np.where(sticky, teach.step_variance(t, cfg.calibration_window), teach.variance(t, cfg.spread_window))
        se = _null_stderr(stderr[:, t], support[:, t], unit_error)
        spread = np.sqrt(np.maximum(v, 0.0) + se**2)
        with np.errstate(divide="ignore", invalid="ignore"):
            weight[:, t] = np.where(spread > 0, 1.0 / spread**2, np.nan)
        spread = floored_spread(
            spread, expected, stderr=se, min_delta=absolute, min_relative_delta=relative,
            threshold=tau_point, scale=np.maximum(np.abs(expected), scale),
        )  # fmt: skip
        value = y[:, t]
        judged = ~np.isnan(expected) & ~np.isnan(spread) & ~np.isnan(value) & (t - first_seen >= cfg.min_history)
        r = value - expected
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.where(judged, r / spread, np.nan)
        small = judged & counts & ~sticky & (expected < SMALL_MEAN)
        count_spread = spread
        if small.any():
            lo = max(0, t - cfg.calibration_window)
            known = dispersion_count[:, t] - dispersion_count[:, lo]
            with np.errstate(invalid="ignore", divide="ignore"):
                index = (dispersion_total[:, t] - dispersion_total[:, lo]) / known
            mean = np.maximum(expected, _LEAST_COUNT_MEAN)
            # A small count's variance moves with its mean; its dispersion index over the calibration window
            # is a far steadier estimate than the spread window's few dozen residuals.
            count_spread = np.where(known >= _MIN_DISPERSION_POINTS, np.sqrt(np.maximum(index, 1.0) * mean), spread)
            z[small] = count_scores(value[small], mean=mean[small], variance=count_spread[small] ** 2)
            scored_as_count[:, t] = small
        is_holiday = holiday[:, t]
        z_all[:, t] = np.where(is_holiday, np.nan, z)
        residual[:, t] = r
        out_expected[:, t], out_spread[:, t] = expected, np.where(small, count_spread, spread)
        out_tau[:, t], out_tau_shift[:, t], out_tau_sum[:, t] = tau_point, tau_shift, tau_sum

        with np.errstate(invalid="ignore"):
            flag_point = judged & (np.abs(z) > tau_point)
        stat = np.full(rows, np.nan)
        if t + 1 >= w:
            recent = z_all[:, t - w + 1 : t + 1]
            complete = ~np.isnan(recent).any(axis=1) & (t - w + 1 > last_rebase)
            same_side = np.all(recent > 0, axis=1) | np.all(recent < 0, axis=1)
            smallest = np.min(np.abs(np.where(complete[:, None], recent, 0.0)), axis=1)
            stat = np.where(complete, np.where(same_side, np.sign(recent[:, -1]) * smallest, 0.0), np.nan)
        with np.errstate(invalid="ignore"):
            flag_shift = judged & ~is_holiday & (np.abs(stat) > tau_shift)
        accumulated = np.full(rows, np.nan)
        flag_sum = np.zeros(rows, dtype=bool)
        if cfg.alpha_sum > 0 and t + 1 >= w:
            window = slice(t - w + 1, t + 1)
            flagged = np.concatenate([point_flag[:, t - w + 1 : t], flag_point[:, None]], axis=1)
            fresh = np.arange(t - w + 1, t + 1)[None, :] > last_rebase[:, None]
            accumulated = _accumulated(z_all[:, window], flagged, tau_point, fresh)
            with np.errstate(invalid="ignore"):
                flag_sum = judged & ~is_holiday & ~flag_point & (np.abs(accumulated) > tau_sum)
            stat = np.where(flag_sum & ~(np.abs(np.nan_to_num(stat)) > tau_shift), accumulated, stat)
            flag_shift = flag_shift | flag_sum
        if has_minimum:
            # The practical minimum holds for the shift test too: a deviation below it never alerts.
            with np.errstate(invalid="ignore"):
                flag_shift &= np.abs(r) >= np.maximum(absolute, relative * np.abs(expected))
        point_flag[:, t], shift_flag[:, t], shift_sign[:, t] = flag_point, flag_shift, np.sign(np.nan_to_num(stat))

        is_clean = judged & ~flag_point & ~flag_shift & ~excluded[:, t] & ~is_holiday
        # A flagged point is an exceedance the calibration must count, at a size it must not learn from: it
        # enters censored (+inf). Left out, it would truncate the tail and pull the threshold down.
        # Only while its size is plausible as noise, though: beyond _CENSOR_LIMIT thresholds even the heaviest
        # tail the calibration allows gives clean data a sixth of the budget there, so such a point is an
        # incident, and counted as an exceedance it would raise the threshold (a conservative band) for a year.
        with np.errstate(invalid="ignore"):
            censored = flag_point & ~excluded[:, t] & ~is_holiday & (np.abs(z) <= _CENSOR_LIMIT * tau_point)
        z_clean[:, t] = np.where(is_clean, np.abs(z), np.where(censored, np.inf, np.nan))
        # The accumulated statistic's sample: clean windows as they are, windows it flagged censored (as above).
        sum_clean[:, t] = np.where(is_clean, np.abs(accumulated), np.where(flag_sum & ~flag_point, np.inf, np.nan))
        warm_up = ~judged & ~np.isnan(value) & ~excluded[:, t] & ~is_holiday
        # Before the first verdict, residuals still teach the spread (unscreened: nothing can judge them yet).
        # Clipped as every residual, a sticky series' steps too: a missed spike would teach its size twice.
        teaches = is_clean | (warm_up & ~np.isnan(r))
        with np.errstate(invalid="ignore"):
            squares = np.fmin(r**2, (_SPREAD_CLIP * spread) ** 2)
        teach.add(t, np.where(teaches, squares, np.nan))
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.fmin(r**2, (_SPREAD_CLIP * spread) ** 2) / np.maximum(expected, _LEAST_COUNT_MEAN)
        counted = is_clean & counts & ~sticky & (expected < SMALL_MEAN) & np.isfinite(ratio)
        dispersion_total[:, t + 1] = dispersion_total[:, t] + np.where(counted, ratio, 0.0)
        dispersion_count[:, t + 1] = dispersion_count[:, t] + counted
        with np.errstate(invalid="ignore"):
            huberized = expected + np.clip(r, -cfg.huber * spread, cfg.huber * spread)
        # A sticky series' clean step is its new value, whole: clipped, it would trail for days.
        cleaned[:, t] = np.where(is_clean, np.where(sticky, value, huberized), np.where(warm_up, value, expected))
        delta[:, t] = cleaned[:, t] - level

        moved = all_rows[flag_shift]
        if len(moved):
            _rebase(moved, sticky[moved], t, w, y, residual, z_all, cleaned, delta, excluded, holiday, z_clean,
                    teach, level_window)  # fmt: skip
            last_rebase[moved] = t
        last_cleaned = np.where(np.isnan(cleaned[:, t]), last_cleaned, cleaned[:, t])

    with np.errstate(invalid="ignore"):
        lower = out_expected - out_tau * out_spread
        upper = out_expected + out_tau * out_spread
        score = (y - out_expected) / out_spread
    if scored_as_count.any():
        mean = np.maximum(out_expected[scored_as_count], _LEAST_COUNT_MEAN)
        spread = out_spread[scored_as_count]
        score[scored_as_count] = count_scores(y[scored_as_count], mean=mean, variance=spread**2)
        lower[scored_as_count], upper[scored_as_count] = count_band(
            mean=mean, variance=spread**2, threshold=out_tau[scored_as_count]
        )
    judged_any = ~np.isnan(z_all) | (holiday & ~np.isnan(score))
    score = np.where(judged_any, score, np.nan)
    for array in (lower, upper, out_tau, out_tau_shift, out_tau_sum):
        array[~judged_any] = np.nan
    return EngineResult(
        expected=out_expected, lower=lower, upper=upper, score=score, point_flag=point_flag,
        shift_flag=shift_flag, shift_sign=shift_sign, tau_point=out_tau, tau_shift=out_tau_shift,
        tau_sum=out_tau_sum,
    )  # fmt: skip


def _accumulated(recent: np.ndarray, flagged: np.ndarray, tau_point: np.ndarray, fresh: np.ndarray) -> np.ndarray:
    """Per row, the accumulated evidence of a level shift over the window ``recent`` (the last
    ``shift_window`` scores): ``sum(z) / sqrt(w)`` when all are on one side, 0 when not, NaN when the window
    is incomplete, holds a point the point test flagged (``flagged``) or reaches back before the last rebase
    (``fresh`` false).

    A shift of 3-4 units scores about that much a day, under a point threshold near 4, and noise pulls
    some days lower (a miss on the tuning seeds scored 3.2, 1.0 and 2.9, so the run test, which needs
    every day beyond its threshold, missed it too); the sum of ``w`` independent clean scores has the
    spread of one score times ``sqrt(w)``, so those three sum to 4.1 spreads. Each score enters clipped at
    the point threshold, so one large score cannot carry the sum alone.

    >>> _accumulated(np.array([[3.23, 0.97, 2.89], [9.0, 0.5, 0.5]]), np.zeros((2, 3), bool),
    ...              np.array([3.5, 3.5]), np.ones((2, 3), bool)).round(2).tolist()
    [4.09, 2.6]
    """
    limit = np.where(np.isfinite(tau_point), tau_point, np.inf)[:, None]
    run = np.clip(recent, -limit, limit)
    complete = ~np.isnan(run).any(axis=1) & ~flagged.any(axis=1) & fresh.all(axis=1)
    same = np.all(run > 0, axis=1) | np.all(run < 0, axis=1)
    total = np.where(same, np.nan_to_num(run).sum(axis=1) / np.sqrt(run.shape[1]), 0.0)
    return np.where(complete, total, np.nan)


def _restandardized(z: np.ndarray, spread: np.ndarray, sticky: np.ndarray, step_variance: np.ndarray) -> np.ndarray:
    """The calibration sample ``z`` (scores judged with ``spread``), with a sticky series' scores re-read
    against its current step spread.

    A sticky series' spread is the size of its steps over the calibration window itself, so it moves as
    the window gathers steps: the scores of the early steps of a series that had stepped only a few times,
    judged against a spread that chance made small, are large, and calibrated as they are they would raise
    the threshold on top of the spread that has since grown. Re-read against today's spread they are the
    steps' sizes in today's units (zeros stay zero, censored scores stay censored).
    """
    if not sticky.any():
        return z
    current = np.sqrt(step_variance)
    usable = sticky & np.isfinite(current) & (current > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rescaled = np.where(z == 0, 0.0, z * spread / current[:, None])
    return np.where(usable[:, None], rescaled, z)


def _repeats_flagged_step(
    y: np.ndarray, t: int, sticky: np.ndarray, point_flag: np.ndarray, shift_flag: np.ndarray,
    excluded: np.ndarray, holiday: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Per row, whether slot ``t`` confirms a sticky series' step flagged at ``t - 1``: the value repeats
    exactly, and neither slot is excluded or a holiday (the run test has not confirmed it already)."""
    previous, current = y[:, t - 1], y[:, t]
    usable = ~excluded[:, t - 1] & ~excluded[:, t] & ~holiday[:, t - 1] & ~holiday[:, t]
    return sticky & point_flag[:, t - 1] & ~shift_flag[:, t - 1] & usable & (current == previous)


def _unit_error(stderr: np.ndarray, support: np.ndarray, excluded: np.ndarray, was: np.ndarray) -> np.ndarray:
    """Per row, the median of ``stderr x sqrt(n)`` over a window (``was`` where it holds none).

    A mean's stderr is ``sd / sqrt(n)`` and a rate's ``sqrt(p (1 - p) / n)``: the product is about
    constant while the metric is normal, whatever ``n`` does from day to day. The median keeps
    anomalous days out.
    """
    with np.errstate(invalid="ignore"):
        product = np.where((stderr > 0) & (support > 0) & ~excluded, stderr * np.sqrt(support), np.nan)
    usable = np.count_nonzero(~np.isnan(product), axis=1) >= _MIN_SPREAD_POINTS
    if not usable.any():
        return was
    out = was.copy()
    out[usable] = np.nanmedian(product[usable], axis=1)
    return out


def _null_stderr(stderr: np.ndarray, support: np.ndarray, unit_error: np.ndarray) -> np.ndarray:
    """The stderr a point would have if it were normal: ``unit_error / sqrt(n)`` where both are known.

    A point's reported stderr comes from its own value: a rate spiking towards 0.5, or a mean
    blown up by outliers, reports a larger stderr, and judged with it the anomaly would widen its
    own band. Its ``n`` is a fact about the day (fewer users, noisier value) and is kept. This is
    the score test's choice: the variance under the null hypothesis.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        null = unit_error / np.sqrt(support)
    return np.where(np.isfinite(null) & (support > 0), null, stderr)


def _stickiness(block: np.ndarray, was: np.ndarray | None = None) -> np.ndarray:
    """Per row, whether the series is sticky: consecutive observed values repeat exactly on at least
    :data:`_STICKY_SHARE` of the steps, and :data:`_STICKY_EXCESS` more often than two values drawn at
    random from the window would match (small counts repeat by chance; a stepped metric by nature).
    A series already sticky (``was``) stays so until its values repeat on fewer than half that share
    of the steps: a window that happens to hold one long plateau (where chance matches every pair)
    must not switch the model back.
    """
    rows, width = block.shape
    if width < 2:
        return np.zeros(rows, dtype=bool)
    # Forward-fill gaps so a missing day does not break a run of equal values.
    index = np.where(~np.isnan(block), np.arange(width), 0)
    np.maximum.accumulate(index, axis=1, out=index)
    filled = np.take_along_axis(block, index, axis=1)
    present = ~np.isnan(block[:, 1:]) & ~np.isnan(filled[:, :-1])
    same = present & (block[:, 1:] == filled[:, :-1])
    pairs = present.sum(axis=1)
    # Chance of a match: the sum of squared shares of the distinct values (NaN sorts last, never equal).
    ordered = np.sort(block, axis=1)
    counts = np.count_nonzero(~np.isnan(block), axis=1)
    starts = np.ones_like(ordered, dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    run_id = np.cumsum(starts, axis=1) - 1
    sizes = np.zeros((rows, width))
    np.add.at(sizes, (np.repeat(np.arange(rows), width), run_id.ravel()), (~np.isnan(ordered)).ravel())
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(pairs > 0, same.sum(axis=1) / pairs, 0.0)
        chance = (sizes**2).sum(axis=1) / np.maximum(counts, 1) ** 2
    enter = (share >= _STICKY_SHARE) & (share - chance >= _STICKY_EXCESS)
    if was is None:
        return enter
    stay = share >= _STICKY_SHARE / 2
    return np.where(was, stay, enter)


def _window_mean(block: np.ndarray, *, minimum: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Row means over the non-NaN entries of ``block`` (weighted by ``weights`` when given); NaN where fewer
    than ``minimum`` exist."""
    if block.shape[1] == 0:
        return np.full(block.shape[0], np.nan)
    present = ~np.isnan(block)
    count = present.sum(axis=1)
    if weights is None:
        weight = present.astype(float)
    else:
        # Unknown weights (before the spread was known) take the mean of the window's known ones.
        known = present & np.isfinite(weights)
        n_known = known.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            fill = np.where(n_known > 0, np.where(known, weights, 0.0).sum(axis=1, keepdims=True) / n_known, 1.0)
        weight = np.where(present, np.where(known, weights, fill), 0.0)
    total = np.where(present, block * weight, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count >= minimum, total / weight.sum(axis=1), np.nan)


def _seasonal_strength(delta: np.ndarray, t: int, period: int) -> np.ndarray:
    """How much of the phase pattern is real, per row: 1 - (noise of the phase means / their spread).

    The phase means of the last cycles are noisy estimates; shrinking them towards their average
    by this factor (James-Stein) keeps a strong weekly pattern whole and removes a spurious one.
    """
    rows, width = delta.shape
    if width < 2 * period:
        return np.ones(rows)
    start = t - width  # absolute column of delta[:, 0]
    phases = (start + np.arange(width)) % period
    means = np.full((rows, period), np.nan)
    noise = np.zeros(rows)
    counts = np.zeros(rows)
    for p in range(period):
        block = delta[:, phases == p]
        present = ~np.isnan(block)
        n = present.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n > 0, np.where(present, block, 0.0).sum(axis=1) / n, np.nan)
            var = np.where(n > 1, (np.where(present, block - mean[:, None], 0.0) ** 2).sum(axis=1) / (n - 1), np.nan)
        means[:, p] = mean
        ok = ~np.isnan(var)
        noise += np.where(ok, var / np.maximum(n, 1), 0.0)
        counts += ok
    phases = np.count_nonzero(~np.isnan(means), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        noise = noise / counts
        centered = np.where(
            np.isnan(means), 0.0, means - np.nanmean(np.where(phases[:, None] > 0, means, 0.0), axis=1)[:, None]
        )
        between = np.where(phases > 1, (centered**2).sum(axis=1) / (phases - 1), np.nan)
        shrink = np.clip(1.0 - noise / between, 0.0, 1.0)
    return np.where(np.isfinite(shrink), shrink, 1.0)


def _rebase(
    moved: np.ndarray, sticky: np.ndarray, t: int, w: int, y: np.ndarray, residual: np.ndarray, z_all: np.ndarray,
    cleaned: np.ndarray, delta: np.ndarray, excluded: np.ndarray, holiday: np.ndarray, z_clean: np.ndarray,
    teach: _Teaching, level_window: int,
) -> None:  # fmt: skip
    """Make the change confirmed at ``t`` the new normal for the series ``moved`` (in place).

    The window's residuals measured the change, not the noise: they leave the spread and the
    calibration. For a sticky series a step *is* its noise, so the step (the window's first point)
    joins them instead, and the rest of the window counts as the zero residuals it would have had.
    """
    start = t - w + 1
    shift = np.median(residual[moved, start : t + 1], axis=1)
    cleaned[moved, :start] += shift[:, None]
    for position in range(start, t + 1):
        value = y[moved, position]
        usable = ~np.isnan(value) & ~excluded[moved, position] & ~holiday[moved, position]
        cleaned[moved, position] = np.where(usable, value, cleaned[moved, position] + shift)
        level = _window_mean(cleaned[moved, max(0, position - level_window) : position], minimum=1)
        delta[moved, position] = cleaned[moved, position] - level
        step = residual[moved, position] if position == start else np.zeros(len(moved))
        keep = sticky & usable & ~np.isnan(step)
        teach.replace(moved, position, np.where(keep, step**2, np.nan))
        z_clean[moved, position] = np.where(keep, 0.0, np.nan)
    # The step enters with the score it was judged with.
    z_clean[moved, start] = np.where(np.isnan(z_clean[moved, start]), np.nan, np.abs(z_all[moved, start]))


class _Teaching:
    """Prefix sums of the squared residuals that teach the spread (less their sampling variance), and of
    the non-zero ones alone (a sticky series' spread is the size of its steps)."""

    def __init__(self, rows: int, slots: int, stderr: np.ndarray) -> None:
        self.stderr = stderr
        self.value = np.zeros((rows, slots))
        self.taught = np.zeros((rows, slots), dtype=bool)
        self.total = np.zeros((rows, slots + 1))
        self.count = np.zeros((rows, slots + 1))
        self.step_total = np.zeros((rows, slots + 1))
        self.step_count = np.zeros((rows, slots + 1))

    def add(self, t: int, squares: np.ndarray) -> None:
        """Record slot ``t``: ``squares`` per row, NaN where the slot teaches nothing."""
        taught = ~np.isnan(squares)
        self.value[:, t] = np.where(taught, squares - self.stderr[:, t] ** 2, 0.0)
        self.taught[:, t] = taught
        self.total[:, t + 1] = self.total[:, t] + self.value[:, t]
        self.count[:, t + 1] = self.count[:, t] + taught
        step = taught & (np.nan_to_num(squares) > 0)
        self.step_total[:, t + 1] = self.step_total[:, t] + np.where(step, squares, 0.0)
        self.step_count[:, t + 1] = self.step_count[:, t] + step

    def replace(self, rows: np.ndarray, t: int, squares: np.ndarray) -> None:
        """Change what slot ``t`` (already recorded, the latest slots) teaches for ``rows``."""
        taught = ~np.isnan(squares)
        value = np.where(taught, squares - self.stderr[rows, t] ** 2, 0.0)
        self.total[rows, t + 1 :] += (value - self.value[rows, t])[:, None]
        self.count[rows, t + 1 :] += (taught.astype(float) - self.taught[rows, t])[:, None]
        old = self.value[rows, t] + self.stderr[rows, t] ** 2
        was_step = self.taught[rows, t] & (old > 0)
        step = taught & (np.nan_to_num(squares) > 0)
        self.step_total[rows, t + 1 :] += (np.where(step, squares, 0.0) - np.where(was_step, old, 0.0))[:, None]
        self.step_count[rows, t + 1 :] += (step.astype(float) - was_step)[:, None]
        self.value[rows, t], self.taught[rows, t] = value, taught

    def variance(self, t: int, window: int, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Mean over the taught slots of the last ``window`` before ``t`` (NaN with fewer than the minimum)."""
        lo = max(0, t - window)
        count = self.count[rows, t] - self.count[rows, lo]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (self.total[rows, t] - self.total[rows, lo]) / count
        return np.where(count >= _MIN_SPREAD_POINTS, mean, np.nan)

    def step_variance(self, t: int, window: int) -> np.ndarray:
        """Mean square of the non-zero residuals of the last ``window`` before ``t`` (NaN before 3 steps)."""
        lo = max(0, t - window)
        count = self.step_count[:, t] - self.step_count[:, lo]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (self.step_total[:, t] - self.step_total[:, lo]) / count
        return np.where(count >= 3, mean, np.nan)
