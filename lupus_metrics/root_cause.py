"""Which label slices explain an aggregate's anomaly (pure: numpy and pandas, no storage).

Input: one row per **leaf** series of the aggregate (the finest labels, e.g. every
``region x platform``) with its ``actual`` and ``expected`` value on the anomalous day.

- **Additive metrics** (counts, sums): the aggregate is the sum of the leaves. A slice's
  *explanatory power* is its share of the deviation, ``(A_s - F_s) / (A - F)``, and its
  *surprise* the Jensen-Shannon term of its share before and after,
  ``½ (p log 2p/(p+q) + q log 2q/(p+q))`` with ``p = F_s/F``, ``q = A_s/A`` (Adtributor,
  Bhagwan et al., NSDI 2014).
- **Means and rates** over users (``kind="ratio"``): the aggregate is the support-weighted mean
  ``R = Σ n_l r_l / Σ n_l``. Its change splits exactly into each leaf's *rate change* weighted
  by its support and the *mix change* of the supports (the symmetric, Shapley-style split):
  ``ΔR = Σ w̄_l (r_l - e_l) + Σ (w'_l - w_l) (r̄_l - R̄)`` with ``w = m/Σm`` (expected support),
  ``w' = n/Σn``, bars the averages of before and after. A slice's share is the sum of its
  leaves' rate (or mix) terms over ``ΔR``. Without supports (``n`` missing or NaN) every leaf
  weighs the same and only rate changes are considered.

Ranking: every slice of one label (``region=JP``) and of two labels (``region=JP,
platform=android``) is a candidate hypothesis "this slice changed; within it every leaf changed
by the same factor" (the ripple effect of Squeeze, Li et al., ISSRE 2019). Its fit is the share
of the leaves' noise-scaled deviation it removes (a generalized potential score; noise scale
``√F`` for counts, ``√n`` or ``n·stderr`` for rate numerators); its score is the fit times its
share of the aggregate's deviation. A slice that is too coarse (predicts a change in leaves that
did not move) or too fine (leaves part of the change unexplained) scores lower than the right
one. The list is built greedily: the best slice is taken as explained, then the next best of
what remains, skipping slices nested in one already listed, so two independent causes
come out first and second.

Example:
    >>> import pandas as pd
    >>> leaves = pd.DataFrame({"region": ["JP", "JP", "US", "US", "DE", "DE"],
    ...                        "platform": ["ios", "android"] * 3,
    ...                        "actual":   [40.0, 52, 205, 190, 148, 160],
    ...                        "expected": [100.0, 110, 200, 195, 150, 155]})
    >>> result = explain(leaves, dimensions=["region", "platform"])
    >>> top = result.slices[0]
    >>> top.labels, round(top.share, 2)
    ({'region': 'JP'}, 1.03)
    >>> result.text()
    'region=JP explains 103 % of the drop'
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from lupus_metrics.errors import LupusValidationError

Kind = Literal["additive", "ratio"]
TINY = 1e-12


@dataclass(frozen=True)
class Slice:
    """One explaining slice: its labels, its share of the aggregate's deviation, how and how well.

    ``effect``: ``volume`` (additive), ``rate`` or ``mix`` (ratio). ``actual``/``expected``: the
    slice's own aggregate (sum, or support-weighted rate). ``share`` is measured on the whole
    deviation (shares of several slices can add to more than 1 when they overlap, or when other
    leaves moved the other way). ``score`` orders the list; ``surprise`` is Adtributor's.
    """

    labels: dict[str, str]
    share: float
    effect: str
    actual: float
    expected: float
    score: float
    surprise: float

    def text(self, direction: str = "change") -> str:
        """``region=JP explains 92 % of the drop`` (mix effects say so)."""
        name = ", ".join(f"{key}={value}" for key, value in self.labels.items())
        how = " (through its share of the support)" if self.effect == "mix" else ""
        return f"{name} explains {self.share * 100:.0f} % of the {direction}{how}"


@dataclass(frozen=True)
class RootCause:
    """The ranked slices and the aggregate they explain (rebuilt from the leaves)."""

    kind: str
    actual: float
    expected: float
    weights: str  # "n" (supports used) or "equal" (no supports: every leaf weighs the same)
    leaves: int
    slices: list[Slice] = field(default_factory=list)

    @property
    def direction(self) -> str:
        return "drop" if self.actual < self.expected else "rise"

    def text(self, top: int = 1) -> str:
        """The top slices in words, ``""`` when nothing explains the change."""
        return "; ".join(item.text(self.direction) for item in self.slices[:top])

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {key: _finite(value) for key, value in data.items() if key != "slices"} | {
            "slices": [{key: _finite(value) for key, value in item.items()} for item in data["slices"]]
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RootCause:
        slices = [
            Slice(**{k: v for k, v in item.items() if k in Slice.__dataclass_fields__}) for item in data["slices"]
        ]
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "slices"}, slices=slices)


def explain(
    leaves: pd.DataFrame,
    *,
    dimensions: Sequence[str],
    kind: Kind = "additive",
    top: int = 3,
    max_depth: int = 2,
) -> RootCause:
    """Rank the slices of ``dimensions`` that explain the change of the leaves' aggregate.

    ``leaves`` columns: the ``dimensions`` (label values), ``actual``, ``expected``; for
    ``kind="ratio"`` optionally ``n`` (today's support), ``n_expected`` (the usual support;
    default ``n``) and ``stderr`` (of ``actual``). Additive leaves with no value today
    (``actual`` NaN) count as 0; ratio leaves with no support weigh nothing. Returns at most
    ``top`` slices with a positive score, best first (empty when the leaves did not change).
    """
    frame = _validated(leaves, dimensions, kind, top, max_depth)
    levels = _levels(frame, list(dimensions), max_depth)
    state = _Additive(frame) if kind == "additive" else _Ratio(frame)
    original = state.decomposition()
    change = sum(float(parts.sum()) for parts in original.values())
    scale = sum(float(np.abs(parts).sum()) for parts in original.values())
    result = RootCause(kind, state.total_actual, state.total_expected, state.weights, len(frame))
    if not math.isfinite(change) or abs(change) <= 1e-9 * max(scale, TINY):
        return result

    chosen: list[tuple[int, int]] = []  # (level, code)
    for _ in range(top):
        best = _best_candidate(state, levels, chosen, change)
        if best is None:
            break
        index, code, effect, score = best
        chosen.append((index, code))
        members = levels[index].codes == code
        result.slices.append(state.describe(levels[index], code, members, effect, score, original, change))
        state.passes[effect].explain(members)
    return result


# --- one pass: leaves' actual vs a baseline that hypotheses update -----------------------------


class _Pass:
    """Leaf values against a baseline; explaining a slice scales its baseline to its actual (ripple effect).

    ``shares=True`` (supports): the hypothesis is that the slice's *share* changed, so the
    leaves outside it are rescaled too, by their own total, instead of staying as they were.
    """

    def __init__(self, actual: np.ndarray, base: np.ndarray, noise: np.ndarray | None = None, *, shares: bool = False):
        self.actual = np.asarray(actual, dtype=float)
        self.base = np.asarray(base, dtype=float).copy()
        # Counts: Poisson-like noise √F; a floor keeps empty leaves from dominating.
        self.noise = _floored(np.sqrt(np.maximum(self.base, 0.0))) if noise is None else _floored(noise)
        self.shares = shares

    def explain(self, members: np.ndarray) -> None:
        self.base[members] *= self.actual[members].sum() / max(self.base[members].sum(), TINY)
        if self.shares:
            self.base[~members] *= self.actual[~members].sum() / max(self.base[~members].sum(), TINY)

    def fits(self, level: _Level, codes: np.ndarray) -> np.ndarray:
        """Per candidate of ``level``: the share of the noise-scaled deviation its ripple hypothesis removes.

        ``codes``: the level's slice of each leaf, ``level.size`` for leaves left out.
        """
        deviation = np.abs(self.actual - self.base) / self.noise
        total = deviation.sum()
        if total <= TINY:
            return np.zeros(level.size)
        size = level.size + 1
        actual = np.bincount(codes, self.actual, size)
        base = np.bincount(codes, self.base, size)
        ratio = np.divide(actual, base, out=np.ones(size), where=base > TINY)
        inside_after = np.bincount(codes, np.abs(self.actual - self.base * ratio[codes]) / self.noise, size)
        inside_before = np.bincount(codes, deviation, size)
        gain = (inside_before - inside_after)[: level.size]
        if self.shares:
            # Outside each candidate, every leaf scaled by the outside's own ratio: one row per candidate.
            count = level.size
            rest_actual, rest_base = self.actual.sum() - actual[:count], self.base.sum() - base[:count]
            rest = np.divide(rest_actual, rest_base, out=np.ones(count), where=rest_base > TINY)
            scaled = np.abs(self.actual[None, :] - self.base[None, :] * rest[:, None]) / self.noise[None, :]
            outside_after = scaled.sum(axis=1) - _inside(scaled, codes)
            gain += (total - inside_before[:count]) - outside_after
        return gain / total


class _Additive:
    """A sum of leaves: one pass on the values themselves."""

    weights = "n"

    def __init__(self, frame: pd.DataFrame):
        self.passes = {"volume": _Pass(frame["actual"].to_numpy(float), frame["expected"].to_numpy(float))}
        self.total_actual = float(self.passes["volume"].actual.sum())
        self.total_expected = float(self.passes["volume"].base.sum())

    def decomposition(self) -> dict[str, np.ndarray]:
        volume = self.passes["volume"]
        return {"volume": volume.actual - volume.base}

    def describe(self, level, code, members, effect, score, original, change) -> Slice:
        volume = self.passes["volume"]
        actual, expected = volume.actual[members].sum(), volume.base[members].sum()
        return _slice(level, code, members, effect, score, original, change, actual, expected, volume)


class _Ratio:
    """A support-weighted mean of leaves: a pass on rate numerators (``n·r`` against ``n·e``) and,
    with supports, a pass on the supports (today's against the usual, scaled to today's total)."""

    def __init__(self, frame: pd.DataFrame):
        rate = frame["actual"].to_numpy(dtype=float)
        self.expected = frame["expected"].to_numpy(dtype=float)
        n = frame["n"].to_numpy(dtype=float) if "n" in frame else np.full(len(frame), np.nan)
        if np.isfinite(n).all() and n.sum() > 0:
            m = frame["n_expected"].to_numpy(dtype=float) if "n_expected" in frame else n.copy()
            m = np.where(np.isfinite(m), m, n)
            self.weights = "n"
        else:
            # Without supports every leaf weighs the same: rate changes only (documented fallback).
            n = np.where(np.isfinite(rate), 1.0, 0.0)
            m = np.ones(len(frame))
            self.weights = "equal"
        self.n, self.m = n, m
        self.rate = np.where((n > 0) & np.isfinite(rate), rate, 0.0)
        stderr = frame["stderr"].to_numpy(dtype=float) if "stderr" in frame else np.full(len(frame), np.nan)
        noise = np.where(np.isfinite(stderr) & (stderr > 0), n * stderr, np.sqrt(np.maximum(n, 0.0)))
        self.passes = {"rate": _Pass(n * self.rate, n * self.expected, noise)}
        if self.weights == "n" and not np.allclose(n / n.sum(), m / max(m.sum(), TINY)):
            self.passes["mix"] = _Pass(n, m * n.sum() / max(m.sum(), TINY), shares=True)
        _, self.total_actual, self.total_expected = _split(self.rate, self.expected, n, m)

    def decomposition(self) -> dict[str, np.ndarray]:
        """Rate and mix terms of today's change against the current baseline (chosen slices explained)."""
        safe = np.maximum(self.n, TINY)
        expected = np.where(self.n > 0, self.passes["rate"].base / safe, self.expected)
        support = self.passes["mix"].base if "mix" in self.passes else self.m
        parts, _, _ = _split(self.rate, expected, self.n, support)
        return {effect: parts[effect] for effect in self.passes}

    def describe(self, level, code, members, effect, score, original, change) -> Slice:
        weight, usual = self.n[members].sum(), self.m[members].sum()
        actual = float(self.n[members] @ self.rate[members] / weight) if weight > 0 else math.nan
        expected = float(self.m[members] @ self.expected[members] / usual) if usual > 0 else math.nan
        return _slice(level, code, members, effect, score, original, change, actual, expected, self.passes[effect])


def _inside(scaled: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Per candidate row of ``scaled``: the sum over its own leaves (``codes`` past the last row: none)."""
    rows = scaled.shape[0]
    kept = codes < rows
    return np.bincount(codes[kept], scaled[codes[kept], np.flatnonzero(kept)], rows)


def _split(rate, expected, n, m) -> tuple[dict[str, np.ndarray], float, float]:
    """The symmetric rate/mix split of a weighted mean's change (terms add up to the change exactly)."""
    after, before = n / max(n.sum(), TINY), m / max(m.sum(), TINY)
    total_actual, total_expected = float(after @ rate), float(before @ expected)
    rate_terms = (after + before) / 2 * (rate - expected)
    mix_terms = (after - before) * ((rate + expected) / 2 - (total_actual + total_expected) / 2)
    return {"rate": rate_terms, "mix": mix_terms}, total_actual, total_expected


# --- candidates -------------------------------------------------------------------------------


@dataclass
class _Level:
    """All slices over one combination of dimensions: each leaf's slice code and the slices' values."""

    dims: tuple[str, ...]
    codes: np.ndarray
    values: list[tuple[str, ...]]

    @property
    def size(self) -> int:
        return len(self.values)


def _levels(frame: pd.DataFrame, dims: list[str], max_depth: int) -> list[_Level]:
    factorized = {dim: pd.factorize(frame[dim].astype(str), sort=True) for dim in dims}
    levels = []
    for depth in range(1, min(max_depth, len(dims)) + 1):
        for combo in itertools.combinations(dims, depth):
            combined = np.zeros(len(frame), dtype=np.int64)
            for dim in combo:
                codes, uniques = factorized[dim]
                combined = combined * len(uniques) + codes
            codes, uniques = pd.factorize(combined, sort=True)
            values = []
            for packed in uniques:
                parts = []
                for dim in reversed(combo):
                    names = factorized[dim][1]
                    packed, position = divmod(int(packed), len(names))
                    parts.append(str(names[position]))
                values.append(tuple(reversed(parts)))
            levels.append(_Level(combo, codes.astype(np.int64), values))
    return levels


def _best_candidate(
    state, levels: list[_Level], chosen: list[tuple[int, int]], change: float
) -> tuple[int, int, str, float] | None:
    # Shares of what is left are measured against the whole change: once a first slice
    # over-explains it, what is left may sum to the other sign, and a second cause would
    # then look like it moved the wrong way.
    decomposition = state.decomposition()
    explained = np.zeros(len(levels[0].codes), dtype=bool)
    for index, code in chosen:
        explained |= levels[index].codes == code
    best: tuple[int, int, str, float] | None = None
    for index, level in enumerate(levels):
        if level.size < 2:
            continue  # one value: the slice is the whole population
        blocked = _nested_with_chosen(levels, index, chosen)
        # Leaves inside a slice already listed are left out: where a second cause crosses the
        # first, those leaves moved twice and the first slice's factor has absorbed part of it.
        codes = np.where(explained, level.size, level.codes)
        for effect, working in state.passes.items():
            share = np.bincount(codes, decomposition[effect], level.size + 1)[: level.size] / change
            score = working.fits(level, codes) * np.clip(share, 0.0, 1.0)
            score[blocked] = -np.inf
            code = int(np.argmax(score))
            if score[code] > 0 and (best is None or score[code] > best[3]):
                best = (index, code, effect, float(score[code]))
    return best


def _nested_with_chosen(levels: list[_Level], index: int, chosen: list[tuple[int, int]]) -> np.ndarray:
    """Candidates of ``levels[index]`` already listed.

    Slices nested in a listed one stay candidates: when two sibling slices broke, the first
    pick may be their parent, and when two crossing slices broke (a region and a platform),
    their intersection moved most and may come first; the next picks then name the parts.
    """
    blocked = np.zeros(levels[index].size, dtype=bool)
    for other_index, other_code in chosen:
        if other_index == index:
            blocked[other_code] = True
    return blocked


def _slice(level, code, members, effect, score, original, change, actual, expected, working) -> Slice:
    share = float(original[effect][members].sum() / change)
    surprise = _surprise(
        working.base[members].sum() / max(working.base.sum(), TINY),
        working.actual[members].sum() / max(working.actual.sum(), TINY),
    )
    labels = dict(zip(level.dims, level.values[code], strict=True))
    return Slice(labels, share, effect, float(actual), float(expected), float(score), float(surprise))


def _surprise(p: float, q: float) -> float:
    terms = [x * math.log(2 * x / (p + q)) for x in (p, q) if x > 0]
    return 0.5 * sum(terms)


def _floored(noise: np.ndarray) -> np.ndarray:
    positive = noise[noise > 0]
    floor = float(np.median(positive)) * 1e-2 if len(positive) else 1.0
    return np.maximum(noise, floor)


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _validated(leaves: pd.DataFrame, dimensions: Sequence[str], kind: str, top: int, max_depth: int) -> pd.DataFrame:
    if kind not in ("additive", "ratio"):
        raise LupusValidationError("kind", "must be 'additive' or 'ratio'", value=kind)
    if not dimensions:
        raise LupusValidationError("dimensions", "name at least one label column", value=list(dimensions))
    missing = [c for c in [*dimensions, "actual", "expected"] if c not in leaves.columns]
    if missing:
        raise LupusValidationError("leaves", f"missing columns {missing}", value=list(leaves.columns))
    if top < 1 or max_depth < 1:
        raise LupusValidationError("top" if top < 1 else "max_depth", "must be at least 1", value=min(top, max_depth))
    frame = leaves.reset_index(drop=True)
    if kind == "additive":
        frame = frame.assign(actual=frame["actual"].astype(float).fillna(0.0))
    bad = ~np.isfinite(frame["expected"].to_numpy(dtype=float))
    if bad.any():
        raise LupusValidationError("leaves.expected", "must be finite for every leaf", value=int(bad.sum()))
    return frame
