"""Seasonal Hybrid ESD: Lupus's detector against the straightforward reference (shesd_reference.py).

Workload: daily series of two years (730 points, period 7, weekly pattern, trend, noise and a
few injected spikes and dips), ``direction="both"``, ``max_anoms=0.10`` (73 ESD steps).
Three measurements, each with an output check:

1. Whole detection per series (STL + ESD). The reference's STL for period 7 is ``rstl`` (pure
   Python, about a second a series), so it runs on a subset (``--reference-series``) and its
   total for all series is extrapolated from its median.
2. ESD step alone, on the same remainders, for every series.
3. The minutely Twitter data set (14,398 points, period 1440; both sides use statsmodels STL).

Run: ``.venv/bin/python benchmarks/shesd_bench.py [--series 1000] [--reference-series 30]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from shesd_reference import reference_esd, reference_shesd

from lupus_metrics.detectors.esd_test import hybrid_esd
from lupus_metrics.detectors.seasonal_esd import SeasonalHybridESD
from lupus_metrics.detectors.stl import stl_periodic_robust

DATASET = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "twitter_raw_data.csv"
MAX_ANOMS = 0.10
DIRECTION = "both"


def daily_series(count: int, points: int, seed: int = 42) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    week = np.array([1.0, 1.1, 1.15, 1.12, 1.05, 0.7, 0.6])
    series = []
    for _ in range(count):
        level = rng.uniform(50, 5000)
        values = (
            level * np.tile(week, points // 7 + 1)[:points] * (1 + rng.uniform(-0.2, 0.4) * np.arange(points) / points)
        )
        values += rng.normal(0, 0.03 * level, points)
        hits = rng.choice(points, size=rng.integers(0, 8), replace=False)
        values[hits] += rng.choice([-1, 1], size=len(hits)) * rng.uniform(0.2, 0.6, len(hits)) * level
        series.append(values)
    return series


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def same_output(ours: pd.DataFrame, reference: pd.DataFrame) -> tuple[bool, int]:
    """Flags and scores identical (scores to 1e-9 relative); returns also how many expected values differ."""
    flags = np.array_equal(ours["is_anomaly"].to_numpy(), reference["is_anomaly"].to_numpy())
    scores = np.allclose(ours["score"].to_numpy(), reference["score"].to_numpy(), rtol=1e-9, atol=0, equal_nan=True)
    expected_diff = int((ours["expected"].to_numpy() != reference["expected"].to_numpy()).sum())
    return flags and scores, expected_diff


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--points", type=int, default=730)
    parser.add_argument("--reference-series", type=int, default=30)
    args = parser.parse_args()
    detector = SeasonalHybridESD(max_anoms=MAX_ANOMS, direction=DIRECTION)
    data = daily_series(args.series, args.points)

    # 1. Whole detection.
    ours_times, ours_results = [], []
    for values in data:
        result, seconds = timed(detector.detect, pd.Series(values), period=7)
        ours_times.append(seconds)
        ours_results.append(result)
    ref_times, mismatches, expected_diffs = [], 0, 0
    for values, ours in zip(data[: args.reference_series], ours_results, strict=False):
        reference, seconds = timed(reference_shesd, values, period=7, max_anoms=MAX_ANOMS, direction=DIRECTION)
        ref_times.append(seconds)
        identical, diff = same_output(ours, reference)
        mismatches += not identical
        expected_diffs += diff
    ours_median, ref_median = statistics.median(ours_times), statistics.median(ref_times)
    print(
        f"Whole detection, {args.series} daily series x {args.points} points, direction={DIRECTION}, max_anoms={MAX_ANOMS}"
    )
    print(f"  lupus     median {ours_median * 1e3:8.2f} ms/series  total {sum(ours_times):8.1f} s (measured)")
    print(
        f"  reference median {ref_median * 1e3:8.2f} ms/series  total {ref_median * args.series:8.1f} s "
        f"(extrapolated from {len(ref_times)} series, measured {sum(ref_times):.1f} s)"
    )
    print(f"  ratio of medians {ref_median / ours_median:6.1f}x")
    print(
        f"  outputs: {len(ref_times) - mismatches}/{len(ref_times)} series with identical flags and scores, "
        f"{expected_diffs} expected values differ"
    )

    # 2. ESD alone, same remainders.
    ours_esd, ref_esd, esd_mismatches = [], [], 0
    steps = int(args.points * MAX_ANOMS)
    for values in data:
        remainder = values - stl_periodic_robust(values, 7).seasonal - np.median(values)
        fast, seconds = timed(hybrid_esd, remainder, steps, 0.05, DIRECTION)
        ours_esd.append(seconds)
        (removed, _, num_anoms), seconds = timed(reference_esd, remainder, steps, 0.05, DIRECTION)
        ref_esd.append(seconds)
        esd_mismatches += fast.tested.tolist() != removed or fast.num_anoms != num_anoms
    ours_esd_median, ref_esd_median = statistics.median(ours_esd), statistics.median(ref_esd)
    print(f"ESD step alone ({steps} steps), all {args.series} series")
    print(f"  lupus     median {ours_esd_median * 1e3:8.3f} ms/series  total {sum(ours_esd):7.2f} s")
    print(f"  reference median {ref_esd_median * 1e3:8.3f} ms/series  total {sum(ref_esd):7.2f} s")
    print(
        f"  ratio of medians {ref_esd_median / ours_esd_median:6.1f}x; outputs identical: {args.series - esd_mismatches}/{args.series}"
    )

    # 3. Minutely data set.
    if DATASET.exists():
        raw = pd.read_csv(DATASET)["count"].to_numpy()
        minute_detector = SeasonalHybridESD(max_anoms=0.02, direction="both")
        ours_m = [timed(minute_detector.detect, pd.Series(raw), period=1440) for _ in range(3)]
        ref_m = [timed(reference_shesd, raw, period=1440, max_anoms=0.02, direction="both") for _ in range(3)]
        ours_s = statistics.median(s for _, s in ours_m)
        ref_s = statistics.median(s for _, s in ref_m)
        identical, diff = same_output(ours_m[0][0], ref_m[0][0])
        print("Minutely Twitter data (14,398 points, period 1440, max_anoms=0.02, both), median of 3 runs")
        print(
            f"  lupus {ours_s:.3f} s, reference {ref_s:.3f} s, ratio {ref_s / ours_s:.1f}x; "
            f"anomalies {int(ours_m[0][0]['is_anomaly'].sum())}; identical flags and scores: {identical}; "
            f"{diff} expected values differ"
        )


if __name__ == "__main__":
    main()
