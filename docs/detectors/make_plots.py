"""Draw each detector's band and anomalies on one example series: docs/detectors/img/<kind>.png.

The example is 26 weeks of a daily metric with weekly seasonality, a slow trend, a
spike, a dip and a lasting level shift. Run from the repository root:
    .venv/bin/python docs/detectors/make_plots.py
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lupus_metrics.detectors import (
    AutoDetector,
    ChangePointDetector,
    Detector,
    ProphetDetector,
    SeasonalHybridESD,
    ThresholdDetector,
    WindowDetector,
)

OUT = Path(__file__).resolve().parent / "img"


def example_series() -> pd.Series:
    """Daily values: weekday ~1000, weekends +150, trend +1/day, spike on day 60, dip on day 100, +120 from day 140."""
    n = 182
    days = pd.date_range("2026-01-05", periods=n, freq="D", tz="UTC")  # starts on a Monday
    rng = np.random.default_rng(3)
    values = 1000 + 1.0 * np.arange(n) + 150 * (days.dayofweek >= 5) + rng.normal(0, 15, n)
    values[60] += 160
    values[100] -= 170
    values[140:] += 120
    return pd.Series(values, index=days)


EXAMPLES: dict[str, tuple[str, Detector]] = {
    "auto": ("AutoDetector()  # a rule without detector:", AutoDetector()),
    "threshold": ("ThresholdDetector(min=950, max=1350)", ThresholdDetector(min=950, max=1350)),
    "window": (
        "WindowDetector(window=14, method='mad', threshold=4)",
        WindowDetector(window=14, method="mad", threshold=4),
    ),
    "window_same_weekday": (
        "WindowDetector(window=8, min_history=4, same_weekday=True, threshold=5)",
        WindowDetector(window=8, min_history=4, same_weekday=True, threshold=5),
    ),
    "prophet": ("ProphetDetector(yearly_seasonality=False)", ProphetDetector(yearly_seasonality=False)),
    "seasonal_esd": (
        "SeasonalHybridESD(direction='both', max_anoms=0.05, longterm=True, piecewise_median_period_weeks=4)",
        SeasonalHybridESD(direction="both", max_anoms=0.05, longterm=True, piecewise_median_period_weeks=4),
    ),
    "change_point": ("ChangePointDetector(penalty=20)", ChangePointDetector(penalty=20)),
    "change_point_trend": (
        "ChangePointDetector(shift='trend', penalty=10)",
        ChangePointDetector(shift="trend", penalty=10),
    ),
}


def plot(name: str, title: str, detector: Detector, series: pd.Series) -> Path:
    out = detector.detect(series)
    fig, ax = plt.subplots(figsize=(10, 3.6), dpi=100)
    x = out.index.tz_localize(None)
    ax.plot(x, out["value"], color="0.35", lw=1, label="value")
    ax.plot(x, out["expected"], color="tab:blue", lw=1.4, label="expected")
    if out["upper"].notna().any() or out["lower"].notna().any():
        lower = out["lower"].fillna(out["value"].min() - 50)
        upper = out["upper"].fillna(out["value"].max() + 50)
        ax.fill_between(
            x,
            lower,
            upper,
            color="tab:blue",
            alpha=0.15,
            label="band",
            where=out["expected"].notna() | out["upper"].notna(),
        )
    hits = out[out["is_anomaly"]]
    ax.scatter(
        hits.index.tz_localize(None), hits["value"], color="tab:red", s=36, zorder=3, label=f"anomaly ({len(hits)})"
    )
    ax.set_title(title, fontsize=10, family="monospace")
    ax.set_ylim(series.min() - 80, series.max() + 80)
    ax.legend(loc="upper left", fontsize=8, ncols=4)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = OUT / f"{name}.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    series = example_series()
    for name, (title, detector) in EXAMPLES.items():
        print(plot(name, title, detector, series))


if __name__ == "__main__":
    main()
