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
* **spread** ``sqrt(v + stderr_t^2)``: ``v`` is the mean squared residual, less its sampling
  part, over the last ``spread_window`` clean points (residuals clipped at 3 spreads); then
  floored (:func:`~lupus_metrics.detectors.noise.floored_spread`).
* **point test**: ``|z| > tau_point`` with ``z = (value - expected) / spread``.
* **shift test**: the last ``shift_window`` z-scores all on one side and all beyond
  ``tau_shift``: catches a level shift too small for the point test within a few points.
  ``tau_shift`` is the quantile of the clean z-scores that ``shift_window`` independent scores
  would all pass, on one side, with probability ``alpha_shift / 2``: a moderate quantile (about the
  91st percentile for three points and a budget of 0.25/year on daily data), read off the data.
* **cleaning**: a clean point enters later baselines Huber-clipped at ``huber`` spreads; a
  flagged, excluded or holiday point enters as its own expected value (imputed), so an incident
  neither drags the level nor widens the spread.
* **a lasting change becomes the new normal**: when the shift test fires, the change is taken
  as lasting: every earlier cleaned value is moved by the median residual of the shift window
  and the window's own values enter the baseline as they are. The next point is judged against
  the new level; a one-point spike cannot trigger it (the window needs all its points beyond).
* **calibration** every ``recalibrate_every`` slots (anchored to absolute slot numbers, so any
  run over the same data recalibrates on the same slots): ``tau_point`` and ``tau_shift`` from
  the clean z-scores (and shift statistics) of the last ``calibration_window`` slots, by the tail
  model of :mod:`~lupus_metrics.detectors.calibration`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lupus_metrics.detectors.calibration import thresholds
from lupus_metrics.detectors.noise import floored_spread

# Residuals enter the spread estimate clipped at this many spreads (E[min(Z^2, 9)] = 0.97 for Gaussian
# noise): one sub-threshold outlier cannot double the spread.
_SPREAD_CLIP = 3.0
# Fewest clean residuals in the spread window before a point is judged.
_MIN_SPREAD_POINTS = 10


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


def run_engine(
    y: np.ndarray,
    stderr: np.ndarray,
    excluded: np.ndarray,
    holiday: np.ndarray,
    scale: np.ndarray,
    *,
    first_slot: int,
    config: EngineConfig,
) -> EngineResult:
    """Judge every slot of every row of ``y`` (S x T); ``first_slot`` is column 0's absolute slot number.

    ``stderr`` (0 = unknown), ``excluded`` and ``holiday`` are S x T; ``scale`` (S) is each series'
    typical magnitude, for the flat-history floor.
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
    sq_sum = np.zeros((rows, slots + 1))  # prefix sums of clipped squared residuals less stderr^2
    sq_count = np.zeros((rows, slots + 1))
    sq_value = np.zeros((rows, slots))
    clean = np.zeros((rows, slots), dtype=bool)

    out_expected = np.full((rows, slots), np.nan)
    out_spread = np.full((rows, slots), np.nan)
    out_tau = np.full((rows, slots), np.nan)
    out_tau_shift = np.full((rows, slots), np.nan)
    point_flag = np.zeros((rows, slots), dtype=bool)
    shift_flag = np.zeros((rows, slots), dtype=bool)
    shift_sign = np.zeros((rows, slots))
    last_rebase = np.full(rows, -(10**9))

    all_rows = np.arange(rows)
    tau_point = tau_shift = None
    strength = np.zeros(rows)

    for t in range(slots):
        if tau_point is None or (first_slot + t) % cfg.recalibrate_every == 0:
            lo = max(0, t - cfg.calibration_window)
            tau_point, tau_shift = thresholds(
                z_clean[:, lo:t], cfg.alpha_point, shift_alpha=cfg.alpha_shift, shift_window=w
            )
            strength = (
                _seasonal_strength(delta[:, max(0, t - cycles * period) : t], t, period) if period > 1 else strength
            )

        level = _window_mean(cleaned[:, max(0, t - level_window) : t], minimum=(level_window + 1) // 2)
        trend = _window_mean(delta[:, max(0, t - cfg.trend_window) : t], minimum=max(2, cfg.trend_window // 4))
        if period > 1:
            lags = t - period * np.arange(1, cycles + 1)
            phase = _window_mean(delta[:, lags[lags >= 0]], minimum=2)
            offset = np.where(np.isnan(phase), trend, trend + strength * (phase - trend))
        else:
            offset = trend
        expected = level + offset

        lo = max(0, t - cfg.spread_window)
        count = sq_count[:, t] - sq_count[:, lo]
        with np.errstate(invalid="ignore", divide="ignore"):
            v = np.where(count >= _MIN_SPREAD_POINTS, (sq_sum[:, t] - sq_sum[:, lo]) / count, np.nan)
        se = stderr[:, t]
        spread = np.sqrt(np.maximum(v, 0.0) + se**2)
        spread = floored_spread(
            spread, expected, stderr=se, min_delta=cfg.min_delta, min_relative_delta=cfg.min_relative_delta,
            threshold=tau_point, scale=np.maximum(np.abs(expected), scale),
        )  # fmt: skip
        value = y[:, t]
        judged = ~np.isnan(expected) & ~np.isnan(spread) & ~np.isnan(value) & (t - first_seen >= cfg.min_history)
        r = value - expected
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.where(judged, r / spread, np.nan)
        is_holiday = holiday[:, t]
        z_all[:, t] = np.where(is_holiday, np.nan, z)
        residual[:, t] = r
        out_expected[:, t], out_spread[:, t] = expected, spread
        out_tau[:, t], out_tau_shift[:, t] = tau_point, tau_shift

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
        point_flag[:, t], shift_flag[:, t], shift_sign[:, t] = flag_point, flag_shift, np.sign(np.nan_to_num(stat))

        is_clean = judged & ~flag_point & ~flag_shift & ~excluded[:, t] & ~is_holiday
        clean[:, t] = is_clean
        z_clean[:, t] = np.where(is_clean, np.abs(z), np.nan)
        warm_up = ~judged & ~np.isnan(value) & ~excluded[:, t] & ~is_holiday
        # Before the first verdict, residuals still teach the spread (unscreened: nothing can judge them yet).
        teaches = is_clean | (warm_up & ~np.isnan(r))
        with np.errstate(invalid="ignore"):
            sq = np.fmin(r**2, (_SPREAD_CLIP * spread) ** 2) - se**2
        sq_value[:, t] = np.where(teaches, sq, 0.0)
        sq_sum[:, t + 1] = sq_sum[:, t] + sq_value[:, t]
        sq_count[:, t + 1] = sq_count[:, t] + teaches
        with np.errstate(invalid="ignore"):
            huberized = expected + np.clip(r, -cfg.huber * spread, cfg.huber * spread)
        cleaned[:, t] = np.where(is_clean, huberized, np.where(warm_up, value, expected))
        delta[:, t] = cleaned[:, t] - level

        moved = all_rows[flag_shift]
        if len(moved):
            _rebase(moved, t, w, y, residual, cleaned, delta, clean, excluded, holiday, z_clean,
                    sq_sum, sq_count, sq_value, level_window)  # fmt: skip
            last_rebase[moved] = t

    with np.errstate(invalid="ignore"):
        lower = out_expected - out_tau * out_spread
        upper = out_expected + out_tau * out_spread
        score = (y - out_expected) / out_spread
    judged_any = ~np.isnan(z_all) | (holiday & ~np.isnan(score))
    score = np.where(judged_any, score, np.nan)
    for array in (lower, upper, out_tau, out_tau_shift):
        array[~judged_any] = np.nan
    return EngineResult(
        expected=out_expected, lower=lower, upper=upper, score=score, point_flag=point_flag,
        shift_flag=shift_flag, shift_sign=shift_sign, tau_point=out_tau, tau_shift=out_tau_shift,
    )  # fmt: skip


def _window_mean(block: np.ndarray, *, minimum: int) -> np.ndarray:
    """Row means over the non-NaN entries of ``block``; NaN where fewer than ``minimum`` exist."""
    if block.shape[1] == 0:
        return np.full(block.shape[0], np.nan)
    present = ~np.isnan(block)
    count = present.sum(axis=1)
    total = np.where(present, block, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count >= minimum, total / count, np.nan)


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
    with np.errstate(invalid="ignore", divide="ignore"):
        noise = noise / counts
        between = np.nanvar(means, axis=1, ddof=1)
        shrink = np.clip(1.0 - noise / between, 0.0, 1.0)
    return np.where(np.isfinite(shrink), shrink, 1.0)


def _rebase(
    moved: np.ndarray, t: int, w: int, y: np.ndarray, residual: np.ndarray, cleaned: np.ndarray,
    delta: np.ndarray, clean: np.ndarray, excluded: np.ndarray, holiday: np.ndarray, z_clean: np.ndarray,
    sq_sum: np.ndarray, sq_count: np.ndarray, sq_value: np.ndarray, level_window: int,
) -> None:  # fmt: skip
    """Make the change confirmed at ``t`` the new normal for the series ``moved`` (in place)."""
    start = t - w + 1
    shift = np.median(residual[moved, start : t + 1], axis=1)
    cleaned[moved, :start] += shift[:, None]
    for position in range(start, t + 1):
        value = y[moved, position]
        usable = ~np.isnan(value) & ~excluded[moved, position] & ~holiday[moved, position]
        cleaned[moved, position] = np.where(usable, value, cleaned[moved, position] + shift)
        level = _window_mean(cleaned[moved, max(0, position - level_window) : position], minimum=1)
        delta[moved, position] = cleaned[moved, position] - level
        # The window's residuals measured the change, not the noise: out of spread and calibration.
        was_clean = sq_value[moved, position] != 0.0
        sq_sum[moved, position + 1 :] -= (sq_value[moved, position] * was_clean)[:, None]
        sq_count[moved, position + 1 :] -= was_clean[:, None].astype(float)
        sq_value[moved, position] = 0.0
        clean[moved, position] = False
        z_clean[moved, position] = np.nan
