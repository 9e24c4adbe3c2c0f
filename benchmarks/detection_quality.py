"""Detection quality: false alerts, recall, delay and calibration of each detector recipe on a synthetic corpus.

The corpus (``detection_corpus.py``) holds 24 daily series per seed (six families of product
metrics, four each) with incidents of known size in noise units. Each recipe (a list of
``detect:`` rules, as a product spec would hold) runs through ``detect_many`` once over all
series, the way a daily run sees them: every detector here is causal, so one pass gives the
verdict each day would have had.

Reported per recipe (and per family):

* **false alerts per series-year** on clean days, counted two ways: flagged points, and alert
  events (a run of consecutive flagged clean days counts once, as the incident grouping would).
* **day-1 recall** of spikes and dips by size (flagged on the incident's day).
* **level shifts**: share detected within 3 days (flagged on day 1, 2 or 3) by size, median delay.
* segment losses (flagged on day 1), variance increases and slow drifts (flagged at all / delay).
* **calibration**: share of clean judged points outside the band against the nominal rate (the
  budget's share for the point test; ``1 - interval_width`` for Prophet without a budget).
* runtime: wall and CPU seconds of ``detect_many``.

Seeds 0-9 were used to tune the ``auto`` detector and the calibration; the default ``holdout``
run reports seeds 10-30 (21 seeds, 504 series), which played no part in the tuning.

Run from the repository root:
    .venv/bin/python benchmarks/detection_quality.py                  # held-out seeds, all recipes
    .venv/bin/python benchmarks/detection_quality.py --seeds tune --recipes auto
    .venv/bin/python benchmarks/detection_quality.py --prophet-series 48   # Prophet on a subset (slow)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

# Run as a script, the benchmarks folder is on sys.path.
from detection_corpus import (
    DAYS,
    FAMILIES,
    SHIFT_SIZES,
    SPIKE_SIZES,
    WARMUP,
    SyntheticSeries,
    corpus,
    points_frame,
)

from lupus_metrics.detectors import detect_many
from lupus_metrics.detectors.auto import DEFAULT_BUDGET, SHIFT_SHARE, SUM_SHARE
from lupus_metrics.detectors.budget import Budget

TUNE_SEEDS = list(range(10))
HOLDOUT_SEEDS = list(range(10, 31))


def _auto_rules(**options: object) -> list[dict]:
    """auto on every series; series with public holidays name their country (a fact, not a tuning knob)."""
    rules: list[dict] = [
        {
            "metrics": ["*"],
            "labels": {"holidays": country},
            "detector": {"kind": "auto", "holidays": country, **options},
        }
        for country in ("US", "JP", "DE", "GB")
    ]
    return [*rules, {"metrics": ["*"], "detector": {"kind": "auto", **options}}]


def _point_share(budget: str) -> float:
    """The share of clean daily points the point test may flag under ``budget`` (the shift tests have the rest)."""
    return Budget.parse(budget).share_of_points(step_seconds=86_400) * (1 - SHIFT_SHARE - SUM_SHARE)


#: Recipe name -> (rules, nominal share of clean points outside the band for the point test, or None).
RECIPES: dict[str, tuple[Callable[[], list[dict]], Callable[[], float | None]]] = {
    "auto": (lambda: _auto_rules(), lambda: _point_share(DEFAULT_BUDGET)),
    "auto, no holiday calendar": (
        lambda: [{"metrics": ["*"], "detector": {"kind": "auto"}}], lambda: _point_share(DEFAULT_BUDGET)
    ),
    "auto, budget 0.1/year": (lambda: _auto_rules(budget="0.1/year"), lambda: _point_share("0.1/year")),
    "auto, budget 1/quarter": (lambda: _auto_rules(budget="1/quarter"), lambda: _point_share("1/quarter")),
    # A practical minimum: changes under 10 % never alert (KPIs where only a material change matters).
    "auto, min_relative_delta 0.1": (lambda: _auto_rules(min_relative_delta=0.1), lambda: _point_share(DEFAULT_BUDGET)),
    "window mad 14, threshold 4": (
        lambda: [{"metrics": ["*"], "detector": {"kind": "window", "window": 14, "method": "mad", "threshold": 4}}],
        lambda: None,
    ),
    "window same weekday 5, zscore, threshold 8": (
        lambda: [{"metrics": ["*"], "detector": {"kind": "window", "window": 5, "method": "zscore", "threshold": 8,
                                                 "same_weekday": True}}],
        lambda: None,
    ),
}  # fmt: skip


#: Prophet recipes: refit every PROPHET_STEP days on the history so far and forecast the next PROPHET_STEP days
#: (a daily next-step run refits every day; 14-day steps keep the benchmark to minutes). Name -> (options,
#: nominal share outside the band).
PROPHET_STEP = 14
PROPHET_RECIPES: dict[str, tuple[dict, float]] = {
    "prophet next_step, budget 0.5/year (calibrated)": (
        {"budget": "0.5/year"},
        Budget.parse("0.5/year").share_of_points(step_seconds=86_400),
    ),
    "prophet next_step, 99 % interval, calibrated": ({}, 0.01),
    "prophet next_step, 99 % interval, uncalibrated": ({"calibration_folds": 0}, 0.01),
}


def prophet_records(series: list[SyntheticSeries], options: dict, workers: int) -> pd.DataFrame:
    """Prophet verdicts for every evaluated day: one next-step run per PROPHET_STEP days and series."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers) as pool:
        frames = list(pool.map(_prophet_one, series, [options] * len(series)))
    return pd.concat(frames, ignore_index=True)


def _prophet_one(s: SyntheticSeries, options: dict) -> pd.DataFrame:
    from lupus_metrics.detectors import ProphetDetector
    from lupus_metrics.detectors.noise import SeriesInfo

    # Series with public holidays name their country, as auto's recipe does (the docs tell users to).
    country = {"holidays_country": s.holidays} if s.holidays else {}
    detector = ProphetDetector(mode="next_step", horizon=PROPHET_STEP, yearly_seasonality=False,
                               uncertainty_samples=300, **country, **options)  # fmt: skip
    values = pd.Series(s.value, index=s.days)
    parts = []
    for end in range(WARMUP, len(values), PROPHET_STEP):
        stop = min(end + PROPHET_STEP, len(values))
        info = SeriesInfo(stderr=s.stderr[:stop], n=s.n[:stop])
        out = detector.detect(values.iloc[:stop], info=info).iloc[end:stop]
        parts.append(out.assign(series_id=s.name, ts=out.index))
    return pd.concat(parts, ignore_index=True)


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def verdict_arrays(series: list[SyntheticSeries], records: pd.DataFrame) -> dict[str, dict[str, np.ndarray]]:
    """Per series name: flags, lower, upper and value aligned with the series' days (NaN = not judged)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    by_series = {name: frame for name, frame in records.groupby("series_id", sort=False)}
    for s in series:
        frame = by_series.get(s.name)
        arrays = {k: np.full(len(s.days), np.nan) for k in ("lower", "upper", "score")}
        flags = np.zeros(len(s.days), dtype=bool)
        if frame is not None:
            position = s.days.get_indexer(pd.DatetimeIndex(frame["ts"]))
            for k in arrays:
                arrays[k][position] = frame[k].to_numpy(dtype="float64")
            flags[position] = frame["is_anomaly"].to_numpy(dtype=bool)
        out[s.name] = {**arrays, "flags": flags}
    return out


def evaluate(series: list[SyntheticSeries], verdicts: dict[str, dict[str, np.ndarray]],
             nominal: float | None, *, muted_holidays: bool = False) -> dict[str, object]:  # fmt: skip
    """The figures of one recipe over ``series`` (see the module docstring).

    ``muted_holidays``: the recipe gives the holiday series their calendar, so their holidays are
    not judged and stay out of the calibration figure.
    """
    clean_days = flagged_points = events = judged_clean = outside = 0
    # clean days, false points, false events, judged clean points, outside the band
    by_family: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    family_spikes: dict[str, list[bool]] = defaultdict(list)  # spikes and dips of >= 6 units
    family_shifts: dict[str, list[bool]] = defaultdict(list)  # shifts of >= 4 units found within 3 days
    spikes: dict[float, list[bool]] = defaultdict(list)
    shifts: dict[float, list[int | None]] = defaultdict(list)
    other: dict[str, list[int | None]] = defaultdict(list)
    for s in series:
        v = verdicts[s.name]
        clean = s.clean_days()
        flags = v["flags"]
        false = flags & clean
        runs = int(np.count_nonzero(false & ~np.r_[False, false[:-1]]))
        clean_days += int(clean.sum())
        flagged_points += int(false.sum())
        events += runs
        family = by_family[s.family]
        family[0] += int(clean.sum())
        family[1] += int(false.sum())
        family[2] += runs
        banded = clean & ~np.isnan(v["lower"]) & ~np.isnan(v["upper"]) & ~(muted_holidays and s.holiday_mask())
        out_of_band = int(np.count_nonzero(banded & ((s.value < v["lower"]) | (s.value > v["upper"]))))
        judged_clean += int(banded.sum())
        outside += out_of_band
        family[3] += int(banded.sum())
        family[4] += out_of_band
        for incident in s.incidents:
            if incident.kind in ("spike", "dip"):
                spikes[incident.size].append(bool(flags[incident.start]))
                if incident.size >= 6:
                    family_spikes[s.family].append(bool(flags[incident.start]))
            elif incident.kind in ("shift", "drift", "segment_loss", "variance"):
                horizon = {"shift": 7, "drift": 37, "segment_loss": 1, "variance": 14}[incident.kind]
                window = flags[incident.start : incident.start + horizon]
                delay = int(np.argmax(window)) if window.any() else None
                if incident.kind == "shift":
                    shifts[incident.size].append(delay)
                    if incident.size >= 4:
                        family_shifts[s.family].append(delay is not None and delay <= 2)
                else:
                    other[incident.kind].append(delay)
    years = clean_days / 365.25
    result: dict[str, object] = {
        "series": len(series),
        "series_years_clean": round(years, 1),
        "false_points_per_series_year": flagged_points / years if years else float("nan"),
        "false_events_per_series_year": events / years if years else float("nan"),
        "by_family": {
            f: {
                "points": p / (d / 365.25),
                "events": e / (d / 365.25),
                "outside": o / j if j else float("nan"),
                "spikes_6": _share(family_spikes[f]),
                "shifts_4": _share(family_shifts[f]),
            }
            for f, (d, p, e, j, o) in by_family.items()
            if d
        },
        "spike_day1_recall": {str(k): (float(np.mean(x)), len(x)) for k, x in sorted(spikes.items())},
        "shift_within_3_days": {
            str(k): (float(np.mean([d is not None and d <= 2 for d in x])), len(x)) for k, x in sorted(shifts.items())
        },
        "shift_median_delay": {str(k): _median_delay(x) for k, x in sorted(shifts.items())},
        "other": {k: (float(np.mean([d is not None for d in x])), _median_delay(x), len(x)) for k, x in other.items()},
        "outside_share": outside / judged_clean if judged_clean else float("nan"),
        "nominal": nominal,
    }
    return result


def _share(flags: list[bool]) -> tuple[float, int]:
    return (float(np.mean(flags)) if flags else float("nan"), len(flags))


def _median_delay(delays: list[int | None]) -> float | None:
    found = [d for d in delays if d is not None]
    return float(np.median(found)) if found else None


def report(name: str, result: dict[str, object], wall: float, cpu: float) -> None:
    """Print one recipe's figures as markdown."""
    print(f"\n### {name}  ({result['series']} series, {result['series_years_clean']} clean series-years; "
          f"detect_many {wall:.1f} s wall, {cpu:.1f} s CPU)")  # fmt: skip
    print(f"false alerts per series-year: {result['false_points_per_series_year']:.3f} flagged points, "
          f"{result['false_events_per_series_year']:.3f} events")  # fmt: skip
    fams = result["by_family"]
    print("| family | " + " | ".join(FAMILIES) + " |")
    print("|---|" + "---|" * len(FAMILIES))
    print("| false points / events per series-year | " + " | ".join(
        f"{fams[f]['points']:.2f} / {fams[f]['events']:.2f}" if f in fams else "-" for f in FAMILIES) + " |")  # fmt: skip
    nominal = result["nominal"]
    if nominal:
        print("| outside the band / nominal | " + " | ".join(
            f"{fams[f]['outside'] / nominal:.2f}" if f in fams else "-" for f in FAMILIES) + " |")  # fmt: skip
    print("| day-1 recall, spikes/dips >= 6 units | " + " | ".join(
        f"{fams[f]['spikes_6'][0]:.0%} ({fams[f]['spikes_6'][1]})" if f in fams else "-" for f in FAMILIES) + " |")  # fmt: skip
    print("| shifts >= 4 units within 3 days | " + " | ".join(
        f"{fams[f]['shifts_4'][0]:.0%} ({fams[f]['shifts_4'][1]})" if f in fams else "-" for f in FAMILIES) + " |")  # fmt: skip
    spikes = result["spike_day1_recall"]
    print("day-1 recall of spikes/dips by size: " + ", ".join(
        f"{k} units {v[0]:.0%} (n={v[1]})" for k, v in spikes.items()))  # fmt: skip
    shifts, delays = result["shift_within_3_days"], result["shift_median_delay"]
    print("level shifts found within 3 days: " + ", ".join(
        f"{k} units {v[0]:.0%} (n={v[1]}, median delay {delays[k]})" for k, v in shifts.items()))  # fmt: skip
    print("other incidents (found, median delay, n): " + ", ".join(
        f"{k} {v[0]:.0%} / {v[1]} / {v[2]}" for k, v in result["other"].items()))  # fmt: skip
    if nominal:
        ratio = result["outside_share"] / nominal
        print(f"calibration: {result['outside_share']:.2e} of clean judged points outside the band, nominal "
              f"{nominal:.2e} (ratio {ratio:.2f}; goal 0.5-1.5)")  # fmt: skip
    else:
        print(f"share of clean judged points outside the band: {result['outside_share']:.2e} (no nominal rate)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="holdout", help="'holdout' (10-30), 'tune' (0-9) or a list like 0,1,2")
    parser.add_argument(
        "--recipes",
        default="all",
        help="recipe names or prefixes separated by ';', or 'all' (the Prophet recipes run with --prophet-series)",
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    parser.add_argument(
        "--prophet-series",
        type=int,
        default=0,
        help="run the Prophet recipes on this many series (the first of each family in turn); slow",
    )
    args = parser.parse_args()
    seeds = {"holdout": HOLDOUT_SEEDS, "tune": TUNE_SEEDS}.get(args.seeds) or [int(x) for x in args.seeds.split(",")]

    def chosen(names: list[str]) -> list[str]:
        if args.recipes == "all":
            return names
        return [name for name in names if any(name.startswith(p.strip()) for p in args.recipes.split(";"))]

    wanted = chosen(list(RECIPES))
    series = corpus(seeds)
    points = points_frame(series)
    print(f"corpus: {len(series)} series x {DAYS} evaluated days, seeds {seeds[0]}-{seeds[-1]} ({len(seeds)}); "
          f"spike sizes {SPIKE_SIZES}, shift sizes {SHIFT_SIZES}")  # fmt: skip
    print("load average at start: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    figures = {}
    for name in wanted:
        rules, nominal = RECIPES[name]
        start, start_cpu = time.perf_counter(), cpu_seconds()
        result = detect_many(points, rules(), workers=args.workers, progress=False)
        wall, cpu = time.perf_counter() - start, cpu_seconds() - start_cpu
        if not result.errors.empty:
            print(f"{name}: {len(result.errors)} series failed, e.g. {result.errors['error'].iloc[0]}")
        muted = any(rule.get("detector", {}).get("holidays") for rule in rules())
        figures[name] = evaluate(series, verdict_arrays(series, result.anomalies), nominal(), muted_holidays=muted)
        figures[name]["wall_seconds"], figures[name]["cpu_seconds"] = wall, cpu
        report(name, figures[name], wall, cpu)
    if args.prophet_series:
        subset = sorted(series, key=lambda x: (x.index, x.seed, FAMILIES.index(x.family)))[: args.prophet_series]
        for name in chosen(list(PROPHET_RECIPES)):
            options, nominal = PROPHET_RECIPES[name]
            start, start_cpu = time.perf_counter(), cpu_seconds()
            records = prophet_records(subset, options, args.workers)
            wall, cpu = time.perf_counter() - start, cpu_seconds() - start_cpu
            figures[name] = evaluate(subset, verdict_arrays(subset, records), nominal)
            figures[name]["wall_seconds"], figures[name]["cpu_seconds"] = wall, cpu
            report(f"{name}, refit every {PROPHET_STEP} days", figures[name], wall, cpu)
    print("\nload average at end: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
