"""Prediction churn: how many entities' predictions changed between two model versions or two days.

A model release can raise accuracy while flipping many users' predicted attributes;
drift of the overall distribution can miss that when the flips cancel out, per-entity
churn does not. Points are named ``churn.<metric>``; formulas are in ``docs/evaluation.md``.

Example:
    >>> prev = pd.DataFrame({"user": [1, 2, 3], "prediction": ["a", "b", "b"]})
    >>> cur = pd.DataFrame({"user": [1, 2, 4], "prediction": ["a", "a", "b"]})
    >>> pts = prediction_churn(prev, cur, key="user", ts="2026-01-01")
    >>> pts[pts["labels"] == {}].set_index("metric")["value"].to_dict()
    {'churn.entities_common': 2.0, 'churn.entities_only_previous': 1.0, 'churn.entities_only_current': 1.0, 'churn.rate': 0.5}
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.evaluation.points import (
    PointRow,
    group_codes,
    label_value,
    point,
    points_frame,
    require_columns,
    with_labels,
)
from lupus_metrics.stats.standard_error import mean_stderr, rate_stderr

KINDS = ("label", "score")


def prediction_churn(
    previous: pd.DataFrame,
    current: pd.DataFrame,
    *,
    key: str | Sequence[str],
    prediction: str = "prediction",
    kind: str | None = None,
    group_by: str | Sequence[str] | None = None,
    ts: object,
) -> pd.DataFrame:
    """Per-entity change of ``prediction`` from ``previous`` to ``current`` (matched on ``key``), as points at ``ts``.

    Always: ``churn.entities_common``, ``churn.entities_only_previous``, ``churn.entities_only_current``
    (entity counts; entities on one side only are counted there and nowhere else).

    Labels (``kind="label"``), over the common entities:

    - ``churn.rate`` = share whose label changed; also per previous label (``previous=<label>``).
    - ``churn.transitions`` with ``from=<a>, to=<b>``: entity counts for every pair of labels seen
      among the common entities (the transition matrix; zeros included).

    Scores (``kind="score"``), over the common entities:

    - ``churn.mean_abs_change`` = mean |current - previous|.
    - ``churn.spearman`` = Spearman rank correlation (``scipy.stats.spearmanr``, average ranks for
      ties); left out when undefined (fewer than two entities, or a constant side).

    ``kind`` defaults to ``score`` for float predictions and ``label`` otherwise. With no common
    entity the rates are left out (not stored as NaN). ``group_by`` names columns of both frames;
    an entity's group is its current value (its previous one if it is only in ``previous``), and
    the points follow for each group with the group labels. Duplicate keys or missing predictions
    raise :class:`~lupus_metrics.errors.LupusValidationError`.
    """
    keys = [key] if isinstance(key, str) else list(key)
    group_cols = [group_by] if isinstance(group_by, str) else list(group_by or [])
    if not keys:
        raise LupusValidationError("key", "must name at least one column")
    for frame, name in ((previous, "previous"), (current, "current")):
        require_columns(frame, name, [*keys, prediction, *group_cols])
        duplicated = frame.duplicated(subset=keys).to_numpy()
        if duplicated.any():
            raise LupusValidationError(
                name, f"key {keys} must identify one row", row=int(np.flatnonzero(duplicated)[0])
            )
        missing = frame[prediction].isna().to_numpy()
        if missing.any():
            raise LupusValidationError(
                f"{name}.{prediction}", "must not be missing", row=int(np.flatnonzero(missing)[0])
            )
    resolved = _kind(current[prediction], previous[prediction], kind)

    merged = pd.merge(
        previous[[*keys, prediction, *group_cols]],
        current[[*keys, prediction, *group_cols]],
        on=keys,
        how="outer",
        suffixes=("_previous", "_current"),
        indicator=True,
    )
    side = merged["_merge"].to_numpy()
    if group_cols:
        groups = pd.DataFrame(
            {c: merged[f"{c}_current"].where(side != "left_only", merged[f"{c}_previous"]) for c in group_cols}
        )
        codes, group_labels = group_codes(groups, group_cols)
    else:
        codes, group_labels = np.zeros(len(merged), dtype=np.int64), [{}]
    before = merged[f"{prediction}_previous"].to_numpy()
    after = merged[f"{prediction}_current"].to_numpy()

    rows: list[PointRow] = []
    selections = [({}, np.ones(len(merged), dtype=bool))]
    if group_cols:
        selections += [(labels, codes == g) for g, labels in enumerate(group_labels)]
    for base, chosen in selections:
        common = chosen & (side == "both")
        entities = float(chosen.sum())
        rows.append(point("churn.entities_common", dict(base), common.sum(), n=entities))
        rows.append(
            point("churn.entities_only_previous", dict(base), (chosen & (side == "left_only")).sum(), n=entities)
        )
        rows.append(
            point("churn.entities_only_current", dict(base), (chosen & (side == "right_only")).sum(), n=entities)
        )
        if resolved == "label":
            rows.extend(_label_rows(before[common], after[common], base))
        else:
            rows.extend(_score_rows(before[common].astype(np.float64), after[common].astype(np.float64), base))
    return points_frame(rows, ts=ts)


def _label_rows(before: np.ndarray, after: np.ndarray, base: dict[str, str]) -> list[PointRow]:
    if len(before) == 0:
        return []
    changed = before != after
    n = float(len(before))
    rate = float(changed.mean())
    rows: list[PointRow] = [point("churn.rate", dict(base), rate, n=n, stderr=float(rate_stderr(rate, n)))]
    try:
        labels, codes = np.unique(np.concatenate([before, after]), return_inverse=True)
    except TypeError:
        raise LupusValidationError("prediction", "labels must be all strings or all numbers, not a mix") from None
    n = len(labels)
    from_codes, to_codes = codes[: len(before)], codes[len(before) :]
    matrix = np.bincount(from_codes * n + to_codes, minlength=n * n).reshape(n, n)
    names = [label_value(v) for v in labels]
    for i, a in enumerate(names):
        total = float(matrix[i].sum())
        if total:
            rate = 1.0 - matrix[i, i] / total
            rows.append(
                point(
                    "churn.rate", with_labels(base, previous=a), rate, n=total, stderr=float(rate_stderr(rate, total))
                )
            )
    for i, a in enumerate(names):
        rows.extend(point("churn.transitions", with_labels(base, **{"from": a, "to": b}), matrix[i, j], n=n)
                    for j, b in enumerate(names))  # fmt: skip
    return rows


def _score_rows(before: np.ndarray, after: np.ndarray, base: dict[str, str]) -> list[PointRow]:
    if len(before) == 0:
        return []
    if not (np.isfinite(before).all() and np.isfinite(after).all()):
        raise LupusValidationError("prediction", "scores must be finite numbers")
    change = np.abs(after - before)
    n = float(len(before))
    sd = float(np.std(change, ddof=1)) if n > 1 else np.nan
    rows: list[PointRow] = [
        point("churn.mean_abs_change", dict(base), change.mean(), n=n, stderr=float(mean_stderr(sd, n)))
    ]
    if len(before) >= 2 and np.ptp(before) > 0 and np.ptp(after) > 0:
        rho = float(spearmanr(before, after).statistic)
        rows.append(point("churn.spearman", dict(base), rho, n=n, stderr=spearman_stderr(rho, n)))
    return rows


def spearman_stderr(rho: float, n: float) -> float:
    """Standard error of a Spearman correlation: Fieller, Hartley and Pearson (1957), through Fisher's z.

    z = atanh(ρ) has standard error √(1.06/(n−3)); by the delta method ρ's is (1−ρ²)·√(1.06/(n−3)).
    Undefined (NaN) for n ≤ 3.

    >>> round(spearman_stderr(0.5, 109.0), 6)
    0.075
    """
    if n <= 3:
        return float("nan")
    return float((1.0 - rho * rho) * np.sqrt(1.06 / (n - 3.0)))


def _kind(current: pd.Series, previous: pd.Series, kind: str | None) -> str:
    if kind is not None:
        if kind not in KINDS:
            raise LupusValidationError("kind", "must be 'label' or 'score'", value=kind)
        return kind
    floats = pd.api.types.is_float_dtype(current) and pd.api.types.is_float_dtype(previous)
    return "score" if floats else "label"
