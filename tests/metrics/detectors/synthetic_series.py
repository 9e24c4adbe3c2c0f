"""Synthetic daily series with known injected anomalies, shared by the detector tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def daily(values: object, start: str = "2025-01-06") -> pd.Series:
    """``values`` as a float series indexed by UTC days from ``start`` (a Monday)."""
    values = np.asarray(values, dtype="float64")
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="D", tz="UTC"))


def noisy(n: int, *, level: float = 100.0, noise: float = 1.0, seed: int = 0) -> np.ndarray:
    """Gaussian noise around ``level``."""
    return level + np.random.default_rng(seed).normal(0.0, noise, n)


def weekly(n: int, *, level: float = 100.0, weekend: float = 20.0, noise: float = 1.0, seed: int = 0) -> np.ndarray:
    """Daily values starting on a Monday with weekends ``weekend`` higher, plus noise."""
    is_weekend = (np.arange(n) % 7) >= 5
    return noisy(n, level=level, noise=noise, seed=seed) + weekend * is_weekend


def trend(n: int, *, slope: float, level: float = 100.0, noise: float = 1.0, seed: int = 0) -> np.ndarray:
    """A straight line plus noise."""
    return noisy(n, level=level, noise=noise, seed=seed) + slope * np.arange(n)
