"""The synthetic corpus of ``detection_quality.py``: daily product metrics with known incidents.

Each seed draws ``SERIES_PER_FAMILY`` series of each family below, on its own calendar
(the start date moves with the seed), ``WARMUP`` days of clean history and then ``DAYS``
evaluated days in which incidents of known size are injected. Sizes are in **noise units**:
the standard deviation of the clean day-to-day noise of that series on that day.

Families (metric name in brackets; the name decides the valid range the detectors clip to):

* ``counts`` (``rows.count``): negative-binomial counts (Poisson-gamma, extra coefficient of
  variation 2-8 %), a weekday/weekend pattern, a trend of -30 % to +40 % a year; half of them
  drop on the public holidays of a country (label ``holidays``). Unit: sqrt(mu + cv^2 mu^2).
* ``rates`` (``clicks.rate``): a share of n users (n varies by weekday and day to day, 300 to
  30,000), binomial sampling noise plus a little day-level noise; ``n`` and ``stderr`` columns as
  the stats code produces them (sqrt(p(1-p)/n) from the observed p). Unit: sqrt(p(1-p)/n + day^2).
* ``means`` (``basket.mean``): a mean over n users (per-user sd 0.3-1.5 x the mean), weekly
  pattern, trend; ``stderr`` = sd/sqrt(n). Unit: sqrt(sd^2/n + day^2).
* ``scores`` (``ranking.ndcg``): a bounded score in [0, 1] averaged over n users, some close to
  1; ``stderr`` = sd/sqrt(n). Unit as for means.
* ``sticky`` (``catalog.distinct_count``): a stepped metric, constant for days, then a clean
  step of N(0, s) on 3-15 % of days (MAD 0 most of the time). Unit: s, the size of a clean step.
* ``sparse`` (``errors.count``): Poisson counts with a mean of 0.3 to 6 a day. Unit: sqrt(mean).

Incidents (at most one kind per series; 30 % of series have none): ``spike``/``dip``
(three one-day events of 3, 4, 6 or 8 units), ``shift`` (a lasting level shift of 2, 3, 4 or
6 units), ``segment_loss`` (counts lose 20-50 % of volume, other families move 4-6 units, for
1 or 3 days), ``variance`` (the noise triples for 14 days), ``drift`` (a ramp to 4 or 8 units
over 30 days, lasting). Sparse counts only move up (a dip below zero does not exist); a score
or rate too close to a bound for a move moves the other way.

A day is **clean** when no incident is active on it and it is not within the cooldown after
one: 14 days after a transient incident, 28 days after a lasting change completes (after that,
the new level is the normal one and alerts count as false again).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

FAMILIES = ("counts", "rates", "means", "scores", "sticky", "sparse")
METRICS = {
    "counts": "rows.count", "rates": "clicks.rate", "means": "basket.mean", "scores": "ranking.ndcg",
    "sticky": "catalog.distinct_count", "sparse": "errors.count",
}  # fmt: skip
SERIES_PER_FAMILY = 4
WARMUP = 182
DAYS = 365
COOLDOWN_TRANSIENT = 14
COOLDOWN_LASTING = 28
SPIKE_SIZES = (3, 4, 6, 8)
SHIFT_SIZES = (2, 3, 4, 6)
DRIFT_SIZES = (4, 8)
HOLIDAY_COUNTRIES = ("US", "JP", "DE", "GB")
_KINDS = ("none", "spike", "shift", "segment_loss", "variance", "drift")
_KIND_WEIGHTS = (0.30, 0.25, 0.20, 0.10, 0.075, 0.075)


@dataclass
class Incident:
    """One injected incident: kind, first day (position), last day, size in noise units, sign."""

    kind: str
    start: int
    end: int
    size: float
    sign: int
    lasting: bool = False


@dataclass
class SyntheticSeries:
    """One series with its points (value, stderr, n), noise unit per day and incidents."""

    seed: int
    family: str
    index: int
    days: pd.DatetimeIndex
    value: np.ndarray
    stderr: np.ndarray
    n: np.ndarray
    unit: np.ndarray
    mean: np.ndarray  # the clean expected value, around which the variance incident scales the noise
    holidays: str | None = None
    incidents: list[Incident] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.seed}-{self.family}-{self.index}"

    def holiday_mask(self) -> np.ndarray:
        """Days that are public holidays of the series' country (all False without one)."""
        if not self.holidays:
            return np.zeros(len(self.days), dtype=bool)
        import holidays

        calendar = holidays.country_holidays(self.holidays, years=range(self.days[0].year, self.days[-1].year + 1))
        return np.array([d in calendar for d in self.days.date])

    def clean_days(self) -> np.ndarray:
        """Evaluated days with no incident and outside every cooldown."""
        clean = np.zeros(len(self.days), dtype=bool)
        clean[WARMUP:] = True
        for incident in self.incidents:
            cooldown = COOLDOWN_LASTING if incident.lasting else COOLDOWN_TRANSIENT
            clean[incident.start : incident.end + 1 + cooldown] = False
        return clean


def corpus(seeds: list[int]) -> list[SyntheticSeries]:
    """Every series of every seed."""
    return [s for seed in seeds for s in seed_series(seed)]


def seed_series(seed: int) -> list[SyntheticSeries]:
    """The ``SERIES_PER_FAMILY`` series of each family for one seed, on the seed's calendar."""
    rng = np.random.default_rng(1_000 + seed)
    start = pd.Timestamp("2023-01-02", tz="UTC") + pd.Timedelta(days=int(37 * seed))
    days = pd.date_range(start, periods=WARMUP + DAYS, freq="D")
    out = []
    for family in FAMILIES:
        for index in range(SERIES_PER_FAMILY):
            series = _FAMILY[family](rng, days, seed, index)
            _inject(series, rng)
            out.append(series)
    return out


def points_frame(series: list[SyntheticSeries]) -> pd.DataFrame:
    """All series as one metric-point frame (labels: series, family, and holidays where set)."""
    frames = []
    for s in series:
        labels = {"series": s.name, "family": s.family, **({"holidays": s.holidays} if s.holidays else {})}
        frames.append(pd.DataFrame({
            "metric": METRICS[s.family], "labels": [labels] * len(s.days), "series_id": s.name, "ts": s.days,
            "value": s.value, "stderr": s.stderr, "n": s.n,
        }))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


# Families ---------------------------------------------------------------------------------------


def _weekly(rng: np.random.Generator, days: pd.DatetimeIndex, weekend: float, wobble: float) -> np.ndarray:
    pattern = 1 + weekend * (np.arange(7) >= 5) + rng.normal(0, wobble, 7)
    return pattern[days.dayofweek]


def _users(rng: np.random.Generator, days: pd.DatetimeIndex) -> np.ndarray:
    base = np.exp(rng.uniform(np.log(300), np.log(30_000)))
    return np.maximum(20, np.round(base * (1 - 0.4 * (days.dayofweek >= 5)) * rng.lognormal(0, 0.25, len(days))))


def _counts(rng: np.random.Generator, days: pd.DatetimeIndex, seed: int, index: int) -> SyntheticSeries:
    t = np.arange(len(days)) / 365.25
    level = np.exp(rng.uniform(np.log(200), np.log(50_000)))
    mu = level * _weekly(rng, days, rng.uniform(-0.35, 0.25), 0.03) * np.exp(rng.uniform(-0.3, 0.4) * t)
    country = HOLIDAY_COUNTRIES[(seed + index) % len(HOLIDAY_COUNTRIES)] if index % 2 == 0 else None
    if country:
        import holidays

        calendar = holidays.country_holidays(country, years=range(days[0].year, days[-1].year + 1))
        on_holiday = np.array([d in calendar for d in days.date])
        mu = mu * np.where(on_holiday, 1 + rng.uniform(-0.4, -0.15), 1.0)
    cv = rng.uniform(0.02, 0.08)
    value = rng.poisson(mu * rng.gamma(1 / cv**2, cv**2, len(days))).astype(float)
    unit = np.sqrt(mu + (cv * mu) ** 2)
    nan = np.full(len(days), np.nan)
    return SyntheticSeries(seed, "counts", index, days, value, nan, nan.copy(), unit, mu, holidays=country)


def _rates(rng: np.random.Generator, days: pd.DatetimeIndex, seed: int, index: int) -> SyntheticSeries:
    n = _users(rng, days)
    p0 = rng.uniform(0.03, 0.5)
    walk = np.cumsum(rng.normal(0, 0.002, len(days)))
    p = np.clip(p0 * _weekly(rng, days, rng.uniform(-0.1, 0.1), 0.01) * np.exp(walk), 0.005, 0.95)
    day = rng.uniform(0, 0.02) * p
    p_day = np.clip(p + rng.normal(0, 1, len(days)) * day, 0.001, 0.999)
    value = rng.binomial(n.astype(int), p_day) / n
    unit = np.sqrt(p * (1 - p) / n + day**2)
    return SyntheticSeries(seed, "rates", index, days, value, _rate_stderr(value, n), n, unit, p)


def _rate_stderr(value: np.ndarray, n: np.ndarray) -> np.ndarray:
    return np.sqrt(np.clip(value, 0, 1) * (1 - np.clip(value, 0, 1)) / n)


def _means(rng: np.random.Generator, days: pd.DatetimeIndex, seed: int, index: int) -> SyntheticSeries:
    n = _users(rng, days)
    t = np.arange(len(days)) / 365.25
    mu = rng.uniform(10, 100) * _weekly(rng, days, rng.uniform(-0.1, 0.1), 0.01) * np.exp(rng.uniform(-0.2, 0.2) * t)
    sd = mu * rng.uniform(0.3, 1.5)
    day = rng.uniform(0, 0.01) * mu
    noise = np.sqrt(sd**2 / n + day**2)
    value = mu + rng.normal(0, 1, len(days)) * noise
    return SyntheticSeries(seed, "means", index, days, value, sd / np.sqrt(n), n, noise, mu)


def _scores(rng: np.random.Generator, days: pd.DatetimeIndex, seed: int, index: int) -> SyntheticSeries:
    n = _users(rng, days)
    m = np.clip(rng.uniform(0.2, 0.97) * _weekly(rng, days, rng.uniform(-0.02, 0.02), 0.003), 0, 1)
    sd = rng.uniform(0.15, 0.35) * np.sqrt(m * (1 - m)) / 0.5
    day = rng.uniform(0, 0.005)
    noise = np.sqrt(sd**2 / n + day**2)
    value = np.clip(m + rng.normal(0, 1, len(days)) * noise, 0, 1)
    return SyntheticSeries(seed, "scores", index, days, value, sd / np.sqrt(n), n, noise, m)


def _sticky(rng: np.random.Generator, days: pd.DatetimeIndex, seed: int, index: int) -> SyntheticSeries:
    level = rng.uniform(1_000, 50_000)
    step = level * rng.uniform(0.005, 0.05)
    moves = rng.random(len(days)) < rng.uniform(0.03, 0.15)
    value = np.round(level + np.cumsum(np.where(moves, rng.normal(0, step, len(days)), 0.0)))
    nan = np.full(len(days), np.nan)
    return SyntheticSeries(seed, "sticky", index, days, value, nan, nan.copy(), np.full(len(days), step), value.copy())


def _sparse(rng: np.random.Generator, days: pd.DatetimeIndex, seed: int, index: int) -> SyntheticSeries:
    lam = rng.uniform(0.3, 6) * _weekly(rng, days, rng.uniform(-0.3, 0.3), 0.05)
    value = rng.poisson(lam).astype(float)
    nan = np.full(len(days), np.nan)
    return SyntheticSeries(seed, "sparse", index, days, value, nan, nan.copy(), np.sqrt(lam), lam)


_FAMILY = {
    "counts": _counts, "rates": _rates, "means": _means, "scores": _scores, "sticky": _sticky, "sparse": _sparse,
}  # fmt: skip


# Incidents --------------------------------------------------------------------------------------


def _inject(s: SyntheticSeries, rng: np.random.Generator) -> None:
    kind = _KINDS[rng.choice(len(_KINDS), p=_KIND_WEIGHTS)]
    if kind == "segment_loss" and s.family in ("sticky", "sparse"):
        kind = "spike"
    if kind == "variance" and s.family == "sticky":
        kind = "shift"
    first, last = WARMUP + 14, WARMUP + DAYS - 45
    if kind == "spike":
        starts = np.sort(rng.choice(np.arange(first, last, 30), size=3, replace=False))
        for start in starts:
            size = float(rng.choice(SPIKE_SIZES))
            sign = 1 if (s.family == "sparse" or rng.random() < 0.5) else -1
            _add(s, Incident("spike" if sign > 0 else "dip", int(start), int(start), size, sign))
    elif kind == "shift":
        sign = 1 if (s.family == "sparse" or rng.random() < 0.5) else -1
        start = int(rng.integers(first, last))
        _add(s, Incident("shift", start, start, float(rng.choice(SHIFT_SIZES)), sign, lasting=True))
    elif kind == "drift":
        sign = 1 if (s.family == "sparse" or rng.random() < 0.5) else -1
        start = int(rng.integers(first, last - 30))
        _add(s, Incident("drift", start, start + 29, float(rng.choice(DRIFT_SIZES)), sign, lasting=True))
    elif kind == "segment_loss":
        start = int(rng.integers(first, last))
        length = int(rng.choice([1, 3]))
        _add(s, Incident("segment_loss", start, start + length - 1, float(rng.uniform(4, 6)), -1))
    elif kind == "variance":
        start = int(rng.integers(first, last))
        _add(s, Incident("variance", start, start + 13, 3.0, 0))


def _add(s: SyntheticSeries, incident: Incident) -> None:
    """Apply ``incident`` to ``s`` in place and record it."""
    span = slice(incident.start, incident.end + 1)
    unit = s.unit
    sign = incident.sign
    if incident.kind in ("spike", "dip", "shift", "drift", "segment_loss"):
        if s.family in ("rates", "scores") and sign != 0:
            # A move past a bound does not exist: move the other way.
            edge = s.value[incident.start] + sign * incident.size * unit[incident.start]
            if not 0 <= edge <= 1:
                sign = -sign
        if s.family == "counts" and incident.kind == "segment_loss":
            loss = np.clip(incident.size / 10, 0.2, 0.5)
            s.value[span] = np.round(s.value[span] * (1 - loss))
            incident.size = float(loss * 10)
        elif incident.kind in ("spike", "dip", "segment_loss"):
            s.value[span] += sign * incident.size * unit[span]
            if incident.kind == "segment_loss":
                # The lost segment's users are gone: fewer users, a larger standard error.
                s.n[span] = np.round(s.n[span] * 0.6)
                s.stderr[span] = s.stderr[span] / np.sqrt(0.6)
        elif incident.kind == "shift":
            s.value[incident.start :] += sign * incident.size * unit[incident.start :]
        else:  # drift: a ramp over the span, then lasting
            ramp = np.minimum(1.0, (np.arange(len(s.value) - incident.start) + 1) / (incident.end - incident.start + 1))
            s.value[incident.start :] += sign * incident.size * ramp * unit[incident.start :]
    elif incident.kind == "variance":
        s.value[span] = s.mean[span] + 3.0 * (s.value[span] - s.mean[span])
    incident.sign = sign
    if s.family in ("counts", "sticky", "sparse"):
        s.value = np.maximum(0.0, np.round(s.value))
    if s.family in ("rates", "scores"):
        s.value = np.clip(s.value, 0.0, 1.0)
    if s.family == "rates":
        s.stderr = _rate_stderr(s.value, s.n)
    s.incidents.append(incident)
