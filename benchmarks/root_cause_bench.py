"""Root-cause benchmark: does ``lupus_metrics.root_cause.explain`` name the slice that broke, and how fast?

A synthetic hierarchical suite (``--cases`` per kind, default 120 additive + 120 ratio = 240):
each case has 2 or 3 label dimensions of 3 to 12 values (9 to 1,000 leaves), leaf sizes and
rates from per-value effects times log-normal leaf noise, and one (60 %) or two (40 %)
root-cause slices, each of one label (75 %) or of two labels (25 %). A cause scales its
slice's leaves by one factor with a ±10 % per-leaf jitter (the ripple effect with some spread):

- additive (counts): drops to 20-70 % or rises to 140-300 %; today's counts are Poisson, the
  expected values carry a 2 % forecast error;
- ratio (rates over users with supports ``n``): rate changes to 30-80 % or 120-160 % of the
  usual rate (binomial sampling of today's rate), or, in 20 % of ratio cases, a mix change:
  the slice's support multiplies by 2.5-4 (a flood of traffic into a segment whose rate differs
  from the average). Supports are Poisson around their usual value.

A case is kept only if an alert would fire on the aggregate (its change is at least 5 noise
sds) and, with two causes, each cause moves the aggregate by at least 20 % of the total in the
same direction. Top-1 is correct when the first slice is a true cause; top-3 when every true
cause is among the first three.

Baselines in the same run: **largest deviation** (the slice of one or two labels with the largest
share of the deviation, i.e. explanatory power alone) and **Adtributor** (Bhagwan et al. 2014:
per dimension, slices by surprise until their explanatory power passes 67 %, dimensions ranked
by their total surprise; one-label slices only). Speed: median time per alert over ``--repeats``
calls on 1,000 leaves (10 x 10 x 10), additive and ratio.

Run from the repository root:
    .venv/bin/python benchmarks/root_cause_bench.py
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lupus_metrics.root_cause import explain

DIMENSION_NAMES = ("region", "platform", "channel")
MIX_SHARE = 0.2  # of ratio cases
FORECAST_ERROR = 0.05  # relative sd of each leaf's expected value around its true usual value


@dataclass
class Case:
    kind: str
    leaves: pd.DataFrame
    dimensions: list[str]
    causes: list[dict[str, str]]
    effect: str  # volume, rate or mix


def make_case(rng: np.random.Generator, kind: str, *, shape: tuple[int, ...] | None = None) -> Case:
    """One detectable case (redrawn, same kind and effect, until an alert would fire; see the module docstring)."""
    # The design (effect, dimensions, number and depth of causes) is fixed before the redraws,
    # so rejecting undetectable draws does not thin out the hard designs.
    mix = kind == "ratio" and rng.random() < MIX_SHARE
    if shape is None:
        shape = (0, 0) if rng.random() < 0.5 else (0, 0, 0)
    depths = [2 if rng.random() < 0.25 else 1 for _ in range(1 if rng.random() < 0.6 else 2)]
    while True:
        case = _draw(rng, kind, shape, mix, depths)
        if case is not None:
            return case


def _draw(rng: np.random.Generator, kind: str, shape: tuple[int, ...], mix: bool, depths: list[int]) -> Case | None:
    if 0 in shape:
        shape = tuple(int(c) for c in rng.integers(3, 13 if len(shape) == 2 else 11, size=len(shape)))
    dims = list(DIMENSION_NAMES[: len(shape)])
    grid = pd.DataFrame(list(itertools.product(*[[f"{d}{i}" for i in range(c)] for d, c in zip(dims, shape, strict=True)])),
                        columns=dims)  # fmt: skip
    codes = [pd.factorize(grid[d])[0] for d in dims]
    causes = _causes(rng, dims, shape, depths)
    members = np.zeros((len(causes), len(grid)), dtype=bool)
    for i, cause in enumerate(causes):
        members[i] = np.logical_and.reduce([grid[k].to_numpy() == v for k, v in cause.items()])
    # Leaf sizes: per-value effects (some values are big) times leaf noise.
    size = np.exp(sum(rng.normal(0, 0.7, c)[code] for c, code in zip(shape, codes, strict=True))
                  + rng.normal(0, 0.5, len(grid)))  # fmt: skip
    if kind == "additive":
        return _additive(rng, grid, dims, causes, members, size * 20_000 / size.sum() * len(grid) / 50)
    return _ratio(rng, grid, dims, causes, members, codes, shape, size, mix)


def _causes(rng, dims, shape, depths) -> list[dict[str, str]]:
    causes: list[dict[str, str]] = []
    while len(causes) < len(depths):
        depth = depths[len(causes)]
        chosen = sorted(rng.choice(len(dims), size=depth, replace=False))
        cause = {dims[i]: f"{dims[i]}{rng.integers(shape[i])}" for i in chosen}
        if any(_nested(cause, other) for other in causes):
            continue
        causes.append(cause)
    return causes


def _factors(rng, members, low, high, rise_low, rise_high) -> np.ndarray:
    factor = np.ones(members.shape[1])
    up = rng.random() < 0.3  # one direction per case
    for row in members:
        target = rng.uniform(rise_low, rise_high) if up else rng.uniform(low, high)
        factor[row] *= target * (1 + rng.normal(0, 0.1, row.sum()))
    return np.clip(factor, 0.01, None)


def _additive(rng, grid, dims, causes, members, baseline) -> Case | None:
    factor = _factors(rng, members, 0.2, 0.9, 1.1, 3.0)
    actual = rng.poisson(baseline * factor).astype(float)
    expected = baseline * (1 + rng.normal(0, FORECAST_ERROR, len(grid)))
    noise_sd = math.sqrt(baseline.sum() + ((FORECAST_ERROR * baseline) ** 2).sum())
    effects = [((factor - 1) * baseline)[row].sum() for row in members]
    if not _detectable(sum((factor - 1) * baseline), effects, noise_sd):
        return None
    leaves = grid.assign(actual=actual, expected=expected)
    return Case("additive", leaves, dims, causes, "volume")


def _ratio(rng, grid, dims, causes, members, codes, shape, size, mix) -> Case | None:
    users = size * 200_000 / size.sum() * len(grid) / 50
    logit = -1.2 + sum(rng.normal(0, 0.5, c)[code] for c, code in zip(shape, codes, strict=True)) \
        + rng.normal(0, 0.2, len(grid))  # fmt: skip
    rate = 1 / (1 + np.exp(-logit))
    support_factor = np.ones(len(grid))
    rate_factor = np.ones(len(grid))
    if mix:
        for row in members:
            support_factor[row] *= rng.uniform(2.5, 4.0)
        effect = "mix"
    else:
        rate_factor = _factors(rng, members, 0.3, 0.9, 1.1, 1.6)
        effect = "rate"
    n = rng.poisson(users * support_factor).astype(float)
    today = np.clip(rate * rate_factor, 0.0, 0.99)
    hits = rng.binomial(n.astype(int), today)
    actual = np.divide(hits, n, out=np.zeros(len(grid)), where=n > 0)
    expected = np.clip(rate * (1 + rng.normal(0, FORECAST_ERROR, len(grid))), 0.0, 1.0)
    # The true change of the aggregate and each cause's part, without sampling noise.
    usual = users / users.sum()
    before = usual @ rate
    after_n = users * support_factor
    after = after_n @ today / after_n.sum()
    effects = []
    for row in members:
        factor_row = np.where(row, support_factor, 1.0) if mix else np.ones(len(grid))
        rate_row = np.where(row, today, rate)
        weights = users * factor_row
        effects.append(weights @ rate_row / weights.sum() - before)
    noise_sd = math.sqrt(before * (1 - before) / users.sum() + (FORECAST_ERROR * before) ** 2 * (usual**2).sum())
    if not _detectable(after - before, effects, noise_sd):
        return None
    leaves = grid.assign(actual=actual, expected=expected, n=n, n_expected=users,
                         stderr=np.sqrt(np.maximum(actual * (1 - actual), 1e-6) / np.maximum(n, 1)))  # fmt: skip
    return Case("ratio", leaves, dims, causes, effect)


def _detectable(total: float, effects: list[float], noise_sd: float) -> bool:
    if abs(total) < 5 * noise_sd:
        return False
    return all(e * total > 0 and abs(e) >= 0.2 * abs(total) for e in effects) if len(effects) > 1 else True


def _nested(a: dict[str, str], b: dict[str, str]) -> bool:
    small, big = (a, b) if len(a) <= len(b) else (b, a)
    return all(big.get(k) == v for k, v in small.items())


# --- methods ----------------------------------------------------------------------------------

Method = Callable[[Case], list[dict[str, str]]]


def lupus(case: Case) -> list[dict[str, str]]:
    result = explain(case.leaves, dimensions=case.dimensions, kind=case.kind, top=3)
    return [item.labels for item in result.slices]


def largest_deviation(case: Case) -> list[dict[str, str]]:
    """Slices of one or two labels by their share of the aggregate's deviation (explanatory power alone)."""
    contribution = _contributions(case)
    total = contribution.sum()
    scored = []
    for depth in (1, 2):
        for combo in itertools.combinations(case.dimensions, depth):
            sums = contribution.groupby([case.leaves[d] for d in combo]).sum() / total
            for key, share in sums.items():
                scored.append((share, dict(zip(combo, key if isinstance(key, tuple) else (key,), strict=True))))
    scored.sort(key=lambda item: -item[0])
    return [labels for _, labels in scored[:3]]


def adtributor(case: Case, *, ep_total: float = 0.67, ep_min: float = 0.1) -> list[dict[str, str]]:
    """Adtributor's recursive-free form: per dimension, slices by surprise until EP passes ``ep_total``."""
    contribution = _contributions(case)
    total = contribution.sum()
    actual, expected = _masses(case)
    candidates = []
    for dim in case.dimensions:
        ep = contribution.groupby(case.leaves[dim]).sum() / total
        p = expected.groupby(case.leaves[dim]).sum() / expected.sum()
        q = actual.groupby(case.leaves[dim]).sum() / actual.sum()
        surprise = 0.5 * (_xlogx(p, p + q) + _xlogx(q, p + q))
        chosen, explained, dim_surprise = [], 0.0, 0.0
        for value in surprise.sort_values(ascending=False).index:
            if ep[value] > ep_min:
                chosen.append(value)
                explained += ep[value]
                dim_surprise += surprise[value]
            if explained > ep_total:
                break
        if explained > ep_total:
            candidates.append((dim_surprise, [{dim: v} for v in chosen]))
    candidates.sort(key=lambda item: -item[0])
    return [labels for _, group in candidates for labels in group][:3]


def _contributions(case: Case) -> pd.Series:
    leaves = case.leaves
    if case.kind == "additive":
        return leaves["actual"] - leaves["expected"]
    after, before = leaves["n"] / leaves["n"].sum(), leaves["n_expected"] / leaves["n_expected"].sum()
    return after * leaves["actual"] - before * leaves["expected"]


def _masses(case: Case) -> tuple[pd.Series, pd.Series]:
    leaves = case.leaves
    if case.kind == "additive":
        return leaves["actual"], leaves["expected"]
    return leaves["n"] * leaves["actual"], leaves["n_expected"] * leaves["expected"]


def _xlogx(x: pd.Series, total: pd.Series) -> pd.Series:
    return (x * np.log(np.where(x > 0, 2 * x / total, 1.0))).fillna(0.0)


# --- measuring --------------------------------------------------------------------------------


def accuracy(cases: list[Case], method: Method) -> dict[str, float]:
    top1 = top3 = 0
    for case in cases:
        found = method(case)
        top1 += bool(found) and any(found[0] == cause for cause in case.causes)
        top3 += all(cause in found[:3] for cause in case.causes)
    return {"top1": top1 / len(cases), "top3": top3 / len(cases)}


def time_per_alert(case: Case, method: Method, repeats: int) -> float:
    method(case)  # warm-up
    timings = []
    for _ in range(repeats):
        began = time.perf_counter()
        method(case)
        timings.append(time.perf_counter() - began)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=120, help="cases per kind (additive, ratio)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--repeats", type=int, default=21)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    cases = [make_case(rng, kind) for kind in ("additive", "ratio") for _ in range(args.cases)]
    methods = {"lupus": lupus, "largest deviation": largest_deviation, "adtributor": adtributor}
    groups = {
        "all": cases,
        "additive": [c for c in cases if c.kind == "additive"],
        "ratio: rate": [c for c in cases if c.effect == "rate"],
        "ratio: mix": [c for c in cases if c.effect == "mix"],
        "one cause": [c for c in cases if len(c.causes) == 1],
        "two causes": [c for c in cases if len(c.causes) == 2],
        "a two-label cause": [c for c in cases if any(len(cause) == 2 for cause in c.causes)],
        "3 dimensions": [c for c in cases if len(c.dimensions) == 3],
    }
    print(f"{len(cases)} cases (seed {args.seed}), leaves per case {min(len(c.leaves) for c in cases)}"
          f"-{max(len(c.leaves) for c in cases)}")  # fmt: skip
    print(f"{'cases':<20}{'n':>5}" + "".join(f"{name + ' top-1/top-3':>34}" for name in methods))
    for label, group in groups.items():
        if not group:
            continue
        row = f"{label:<20}{len(group):>5}"
        for method in methods.values():
            score = accuracy(group, method)
            row += f"{score['top1'] * 100:>24.1f} % / {score['top3'] * 100:5.1f} %"
        print(row)
    print(f"\nTime per alert, 1,000 leaves (10 x 10 x 10), median of {args.repeats}:")
    for kind in ("additive", "ratio"):
        case = make_case(np.random.default_rng(args.seed + 1), kind, shape=(10, 10, 10))
        times = {name: time_per_alert(case, method, args.repeats) for name, method in methods.items()}
        print(f"  {kind:<9}" + "".join(f"  {name} {seconds * 1000:7.2f} ms" for name, seconds in times.items()))


if __name__ == "__main__":
    main()
