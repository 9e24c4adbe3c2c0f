"""An independent computation of profile stats with plain pandas/numpy, one group at a time.

Written from the definitions in docs/stats.md, sharing no code with lupus_metrics.stats,
so that the tests compare two implementations.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator

import numpy as np
import pandas as pd

NULL = "__null__"


def groups(df: pd.DataFrame, by: list[str]) -> Iterator[tuple[dict[str, str], pd.DataFrame]]:
    """The overall group (labels {}) and each combination of group-by values present."""
    yield {}, df
    if not by:
        return
    keys = df[by].astype(object).where(df[by].notna(), None)
    seen: list[tuple] = []
    for row in keys.itertuples(index=False):
        if tuple(row) not in seen:
            seen.append(tuple(row))
    for combo in seen:
        mask = np.ones(len(df), dtype=bool)
        for column, value in zip(by, combo, strict=True):
            mask &= (df[column].isna() if value is None else (df[column] == value)).to_numpy(dtype=bool)
        yield {c: (NULL if v is None else str(v)) for c, v in zip(by, combo, strict=True)}, df[mask]


def present(values: pd.Series) -> list:
    """Non-null values: None, NaN and NaT are all null."""
    return [v for v in values.tolist() if not _is_null(v)]


def _is_null(v: object) -> bool:
    if v is None or v is pd.NaT or v is pd.NA:
        return True
    return isinstance(v, float) and math.isnan(v)


def _epoch(v: object) -> float:
    return (
        pd.Timestamp(v).tz_localize("UTC").timestamp()
        if pd.Timestamp(v).tzinfo is None
        else pd.Timestamp(v).timestamp()
    )


def _length(v: object) -> int:
    return len(v)


def stat(values: pd.Series, name: str, *, ts: pd.Timestamp | None = None) -> float:
    """One stat of one group's column, by its spec text (``mean``, ``p05``, ``length_p50``...)."""
    rows = len(values)
    x = present(values)
    if name == "count":
        return float(len(x))
    if name == "null_count":
        return float(rows - len(x))
    if name == "null_rate":
        return (rows - len(x)) / rows if rows else math.nan
    if name == "distinct_count":
        return float(len(set(x)))
    if name == "true_rate":
        return float(np.mean([bool(v) for v in x])) if x else math.nan
    if name == "empty_rate":
        return float(np.mean([len(v) == 0 for v in x])) if x else math.nan
    if name.startswith("length_"):
        return _numeric([_length(v) for v in x], name.removeprefix("length_"))
    if name == "lag":
        return ts.timestamp() - max(_epoch(v) for v in x) if x else math.nan
    if x and isinstance(x[0], (pd.Timestamp, np.datetime64)):
        return _numeric([_epoch(v) for v in x], name)
    return _numeric([float(v) for v in x], name)


def _numeric(x: list[float], name: str) -> float:
    arr = np.asarray(x, dtype="float64")
    if name == "sum":
        return float(arr.sum()) if len(arr) else math.nan
    if name == "zero_rate":
        return float(np.mean(arr == 0)) if len(arr) else math.nan
    if not len(arr):
        return math.nan
    if name == "mean":
        return float(np.mean(arr))
    if name == "std":
        return float(np.std(arr, ddof=1)) if len(arr) > 1 else math.nan
    if name == "min":
        return float(arr.min())
    if name == "max":
        return float(arr.max())
    if name.startswith("p"):
        return float(np.percentile(arr, float(name[1:])))  # numpy's default: linear interpolation
    raise KeyError(name)


def topk(values: pd.Series, k: int, *, elements: bool) -> tuple[list[tuple[str, int, float]], float]:
    """Top-k ``(value, count, share)`` by count descending then value ascending, and the other share."""
    x = present(values)
    if elements:
        x = [e for v in x for e in v if not _is_null(e)]
    counts = Counter(str(v) for v in x)
    total = sum(counts.values())
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:k]
    top = [(value, n, n / total) for value, n in ranked]
    other = 1 - sum(n for _, n, _ in top) / total if total else math.nan
    return top, other


RATES = frozenset({"null_rate", "zero_rate", "true_rate", "empty_rate"})
ROW_COUNTS = frozenset({"count", "null_count", "null_rate"})


def support(values: pd.Series, name: str, *, ts: pd.Timestamp | None = None) -> tuple[float, float]:
    """``(n, stderr)`` of one stat, from the definitions in docs/stats.md.

    n is the group's rows for counts and the null rate, its non-null values otherwise; rates
    have the Wald standard error, means sd/√n (sample sd), every other stat none (NaN).
    """
    rows, x = len(values), present(values)
    n = float(rows if name in ROW_COUNTS else len(x))
    if name in RATES:
        p = stat(values, name, ts=ts)
        return n, math.sqrt(p * (1 - p) / n) if n else math.nan
    if name in ("mean", "length_mean"):
        data = [len(v) for v in x] if name == "length_mean" else [float(v) for v in x]
        return n, float(np.std(data, ddof=1) / math.sqrt(len(data))) if len(data) > 1 else math.nan
    return n, math.nan
