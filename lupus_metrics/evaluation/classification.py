"""Classification metrics as metric points: accuracy, precision/recall/F1, confusion, label shares, log loss, ROC-AUC.

Definitions follow scikit-learn (and agree with it to 1e-12); formulas are in
``docs/evaluation.md``. Points are named ``classification.<metric>``; per-class
values carry ``class=<label>``, averages carry ``average=macro|micro|weighted``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.evaluation.inputs import as_float_vector, as_vector, groups_frame, same_length
from lupus_metrics.evaluation.points import PointRow, iter_groups, label_value, points_frame, with_labels

AVERAGES = ("macro", "micro", "weighted")


def evaluate_classification(
    y_true: object,
    y_pred: object,
    y_score: object = None,
    *,
    classes: Sequence[object] | None = None,
    group_by: pd.Series | pd.DataFrame | None = None,
    ts: object,
) -> pd.DataFrame:
    """Classification metrics of ``y_pred`` against ``y_true`` as metric points at ``ts``.

    Points (``c`` ranges over the classes seen in ``y_true`` or ``y_pred``):

    - ``classification.rows``; ``classification.accuracy`` = share of rows with ``y_pred == y_true``.
    - ``classification.precision|recall|f1`` with ``class=c``: ``tp/(tp+fp)``, ``tp/(tp+fn)``,
      ``2tp/(2tp+fp+fn)``; a zero denominator gives 0 (scikit-learn's ``zero_division=0``).
      With ``average=macro`` (unweighted mean over classes), ``average=weighted`` (mean
      weighted by true counts) and ``average=micro`` (from summed tp, fp, fn).
    - ``classification.confusion`` with ``true=a, pred=b``: row counts, every pair of classes.
    - ``classification.true_share`` / ``classification.pred_share`` with ``class=c``: label distributions.
    - With ``y_score``: ``classification.roc_auc`` (binary: no label, the positive class is the
      last of ``classes``; multiclass: ``class=c`` one-vs-rest and ``average=macro`` over the classes
      where it is defined). ROC-AUC is left out when undefined (a class with no positive or no
      negative row). ``classification.log_loss`` = mean of ``-ln(clip(p_true, eps, 1-eps))``
      (``eps`` = float64 machine epsilon), left out unless every score lies in [0, 1].

    ``y_score`` is a 1-D array of positive-class scores (binary), a 2-D array whose columns
    follow ``classes``, or a DataFrame with one column per class. ``classes`` defaults to the
    sorted union of ``y_true`` and ``y_pred``. Labels may be strings or integers (not mixed).
    ``group_by`` (a named Series or a DataFrame aligned with the rows) adds the same points per
    group, labelled with the group values, after the overall ones. Empty or mismatched input
    raises :class:`~lupus_metrics.errors.LupusValidationError`.

    Example:
        >>> pts = evaluate_classification(["a", "b", "b"], ["a", "b", "a"], ts="2026-01-01")
        >>> pts.set_index("metric").loc["classification.accuracy", "value"].round(4)
        np.float64(0.6667)
    """
    truth = as_vector(y_true, "y_true")
    pred = as_vector(y_pred, "y_pred")
    same_length(truth, pred, ("y_true", "y_pred"))
    all_classes = _sorted_classes(truth, pred, classes)
    scores = None if y_score is None else _score_matrix(y_score, all_classes, len(truth))
    true_codes = np.searchsorted(all_classes, truth)
    pred_codes = np.searchsorted(all_classes, pred)
    groups = groups_frame(group_by, len(truth))
    rows: list[PointRow] = []
    for labels, where in iter_groups(groups, list(groups.columns)):
        rows.extend(
            _classification_rows(
                true_codes[where], pred_codes[where], None if scores is None else scores[where], all_classes, labels
            )
        )
    return points_frame(rows, ts=ts)


def _sorted_classes(truth: np.ndarray, pred: np.ndarray, classes: Sequence[object] | None) -> np.ndarray:
    try:
        seen = np.unique(np.concatenate([truth, pred]))
        if classes is None:
            return seen
        given = np.asarray(list(classes))
        ordered = np.unique(given)
    except TypeError:
        raise LupusValidationError("y_true", "labels must be all strings or all numbers, not a mix") from None
    if len(ordered) != len(given) or not np.array_equal(ordered, given):
        raise LupusValidationError("classes", "must be sorted and without duplicates", value=list(given))
    missing = np.setdiff1d(seen, given)
    if missing.size:
        raise LupusValidationError("classes", "must include every label of y_true and y_pred", value=missing.tolist())
    return given


def _score_matrix(y_score: object, classes: np.ndarray, n_rows: int) -> np.ndarray:
    """Scores as an (n_rows x n_classes) matrix in the order of ``classes``."""
    if isinstance(y_score, pd.DataFrame):
        columns = list(y_score.columns)
        absent = [c for c in classes.tolist() if c not in columns]
        if absent:
            raise LupusValidationError("y_score", "needs one column per class", value=absent)
        matrix = np.column_stack([as_float_vector(y_score[c], "y_score") for c in classes.tolist()])
    else:
        array = np.asarray(y_score)
        if array.ndim == 1:
            if len(classes) != 2:
                raise LupusValidationError(
                    "y_score", "a 1-D score needs exactly two classes (pass classes=[negative, positive])", value=classes.tolist()
                )
            positive = as_float_vector(array, "y_score")
            matrix = np.column_stack([1.0 - positive, positive])
        elif array.ndim == 2 and array.shape[1] == len(classes):
            matrix = np.column_stack([as_float_vector(array[:, j], "y_score") for j in range(array.shape[1])])
        else:
            raise LupusValidationError("y_score", f"must be 1-D or have one column per class ({len(classes)})", value=array.shape)
    if len(matrix) != n_rows:
        raise LupusValidationError("y_score", f"must have as many rows as y_true ({n_rows})", value=len(matrix))
    return matrix


def _classification_rows(
    true_codes: np.ndarray, pred_codes: np.ndarray, scores: np.ndarray | None, all_classes: np.ndarray, base: dict[str, str]
) -> list[PointRow]:
    present = np.unique(np.concatenate([true_codes, pred_codes]))
    t = np.searchsorted(present, true_codes)
    p = np.searchsorted(present, pred_codes)
    n_classes = len(present)
    confusion = np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    tp = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1).astype(np.float64)
    predicted = confusion.sum(axis=0).astype(np.float64)
    fp, fn = predicted - tp, support - tp
    names = [label_value(c) for c in all_classes[present]]
    n = float(len(t))

    per_class = {
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }
    micro = {
        "precision": _ratio(tp.sum(), tp.sum() + fp.sum()),
        "recall": _ratio(tp.sum(), tp.sum() + fn.sum()),
        "f1": _ratio(2 * tp.sum(), 2 * tp.sum() + fp.sum() + fn.sum()),
    }
    rows: list[PointRow] = [
        ("classification.rows", dict(base), n),
        ("classification.accuracy", dict(base), tp.sum() / n),
    ]
    for metric, values in per_class.items():
        name = f"classification.{metric}"
        rows.append((name, with_labels(base, average="macro"), float(values.mean())))
        rows.append((name, with_labels(base, average="micro"), float(micro[metric])))
        rows.append((name, with_labels(base, average="weighted"), float(np.average(values, weights=support))))
        rows.extend((name, with_labels(base, **{"class": c}), float(v)) for c, v in zip(names, values, strict=True))
    for i, a in enumerate(names):
        rows.extend(("classification.confusion", with_labels(base, true=a, pred=b), float(confusion[i, j])) for j, b in enumerate(names))
    rows.extend(("classification.true_share", with_labels(base, **{"class": c}), s / n) for c, s in zip(names, support, strict=True))
    rows.extend(("classification.pred_share", with_labels(base, **{"class": c}), s / n) for c, s in zip(names, predicted, strict=True))
    if scores is not None:
        rows.extend(_score_rows(true_codes, scores, all_classes, base))
    return rows


def _score_rows(true_codes: np.ndarray, scores: np.ndarray, all_classes: np.ndarray, base: dict[str, str]) -> list[PointRow]:
    rows: list[PointRow] = []
    if scores.min() >= 0.0 and scores.max() <= 1.0:
        eps = np.finfo(np.float64).eps
        p_true = np.clip(scores[np.arange(len(true_codes)), true_codes], eps, 1 - eps)
        rows.append(("classification.log_loss", dict(base), float(-np.log(p_true).mean())))
    if len(all_classes) == 2:
        auc = _binary_auc(true_codes == 1, scores[:, 1])
        if auc is not None:
            rows.append(("classification.roc_auc", dict(base), auc))
        return rows
    aucs = []
    for j, c in enumerate(all_classes):
        auc = _binary_auc(true_codes == j, scores[:, j])
        if auc is not None:
            aucs.append(auc)
            rows.append(("classification.roc_auc", with_labels(base, **{"class": c}), auc))
    if aucs:
        rows.append(("classification.roc_auc", with_labels(base, average="macro"), float(np.mean(aucs))))
    return rows


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float | None:
    """ROC-AUC as the Mann-Whitney U statistic over average ranks (ties count one half); None if undefined."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    rank_sum = rankdata(score)[positive].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _ratio(numerator: np.ndarray | float, denominator: np.ndarray | float) -> np.ndarray:
    numerator, denominator = np.asarray(numerator, dtype=np.float64), np.asarray(denominator, dtype=np.float64)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)
