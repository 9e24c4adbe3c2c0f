"""Classification metrics as metric points: accuracy, precision/recall/F1, confusion, label shares, log loss, ROC-AUC.

Definitions follow scikit-learn (and agree with it to 1e-12); formulas are in
``docs/evaluation.md``. Points are named ``classification.<metric>``; per-class
values carry ``class=<label>``, averages carry ``average=macro|micro|weighted``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.evaluation.inputs import as_float_vector, as_vector, groups_frame, same_length
from lupus_metrics.evaluation.points import PointRow, iter_groups, label_value, point, points_frame, with_labels
from lupus_metrics.stats.standard_error import influence_stderr, mean_stderr, rate_stderr

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
                    "y_score",
                    "a 1-D score needs exactly two classes (pass classes=[negative, positive])",
                    value=classes.tolist(),
                )
            positive = as_float_vector(array, "y_score")
            matrix = np.column_stack([1.0 - positive, positive])
        elif array.ndim == 2 and array.shape[1] == len(classes):
            matrix = np.column_stack([as_float_vector(array[:, j], "y_score") for j in range(array.shape[1])])
        else:
            raise LupusValidationError(
                "y_score", f"must be 1-D or have one column per class ({len(classes)})", value=array.shape
            )
    if len(matrix) != n_rows:
        raise LupusValidationError("y_score", f"must have as many rows as y_true ({n_rows})", value=len(matrix))
    return matrix


def _classification_rows(
    true_codes: np.ndarray,
    pred_codes: np.ndarray,
    scores: np.ndarray | None,
    all_classes: np.ndarray,
    base: dict[str, str],
) -> list[PointRow]:
    present = np.unique(np.concatenate([true_codes, pred_codes]))
    t = np.searchsorted(present, true_codes)
    p = np.searchsorted(present, pred_codes)
    n_classes = len(present)
    confusion = np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    rows = confusion_rows(confusion.astype(np.float64), [label_value(c) for c in all_classes[present]], base)
    if scores is not None:
        rows.extend(_score_rows(true_codes, scores, all_classes, base))
    return rows


def confusion_rows(confusion: np.ndarray, names: list[str], base: dict[str, str]) -> list[PointRow]:
    """Every point that follows from the confusion matrix (rows: true class, columns: predicted), with n and stderr.

    Standard errors are the multinomial delta method: each metric is a function of the cell
    shares, its influence per row depends only on the row's cell (see :func:`_Ratio`), and the
    variance is Σ cells · influence² / n². For a single rate this is √(p(1−p)/n) over its own
    denominator (precision: predicted rows of the class, recall: its true rows).
    """
    n = float(confusion.sum())
    size = len(names)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    # Indicators over [class c, true a, predicted b]: a == c, b == c.
    is_true = np.broadcast_to(np.eye(size)[:, :, None], (size, size, size))
    is_pred = np.broadcast_to(np.eye(size)[:, None, :], (size, size, size))
    both = is_true * is_pred
    per_class = {
        "precision": _Ratio(confusion, both, is_pred),
        "recall": _Ratio(confusion, both, is_true),
        "f1": _Ratio(confusion, 2 * both, is_true + is_pred),
    }
    accuracy = _Ratio(confusion, both.sum(axis=0)[None], np.ones((1, size, size)))
    rows: list[PointRow] = [
        point("classification.rows", dict(base), n, n=n),
        point("classification.accuracy", dict(base), accuracy.value[0], n=n, stderr=accuracy.stderr()[0]),
    ]
    weights = support / n
    for metric, ratio in per_class.items():
        name = f"classification.{metric}"
        micro = _Ratio(confusion, ratio.y.sum(axis=0)[None], ratio.z.sum(axis=0)[None])
        # weighted = Σ w_c v_c with w_c = support_c / n, itself an estimate: product rule.
        weighted_influence = np.tensordot(weights, ratio.influence, axes=1) + np.tensordot(
            ratio.value, is_true - weights[:, None, None], axes=1
        )
        averages = {
            "macro": (float(ratio.value.mean()), ratio.influence.mean(axis=0)),
            "micro": (float(micro.value[0]), micro.influence[0]),
            "weighted": (float(np.dot(weights, ratio.value)), weighted_influence),
        }
        for average, (value, influence) in averages.items():
            rows.append(point(name, with_labels(base, average=average), value, n=n,
                              stderr=influence_stderr(confusion, influence)))  # fmt: skip
        stderrs = ratio.stderr()
        rows.extend(
            point(name, with_labels(base, **{"class": c}), v, n=d, stderr=e)
            for c, v, d, e in zip(names, ratio.value, ratio.support, stderrs, strict=True)
        )
    for i, a in enumerate(names):
        rows.extend(point("classification.confusion", with_labels(base, true=a, pred=b), confusion[i, j], n=n)
                    for j, b in enumerate(names))  # fmt: skip
    for metric, counts in (("true_share", support), ("pred_share", predicted)):
        rows.extend(
            point(
                f"classification.{metric}",
                with_labels(base, **{"class": c}),
                s / n,
                n=n,
                stderr=float(rate_stderr(s / n, n)),
            )
            for c, s in zip(names, counts, strict=True)
        )
    return rows


class _Ratio:
    """Ratios R_c = Σ y_c / Σ z_c over the rows, with y and z given per confusion cell (arrays [c, true, pred]).

    Precision, recall, F1 and accuracy are such ratios. Their influence per row (the
    linearization of the ratio estimator) is (y − R z) / z̄, z̄ = Σ z / n; a zero denominator
    fixes the value at 0 (scikit-learn's ``zero_division=0``), with no influence and no stderr.
    """

    def __init__(self, confusion: np.ndarray, y: np.ndarray, z: np.ndarray):
        n = confusion.sum()
        self.confusion, self.y, self.z = confusion, y, z
        numerator = (y * confusion).sum(axis=(1, 2))
        self.denominator = (z * confusion).sum(axis=(1, 2))
        #: Rows that enter the denominator: the ratio's n (F1 weighs true positives twice; they count once).
        self.support = ((z > 0) * confusion).sum(axis=(1, 2))
        self.value = _ratio(numerator, self.denominator)
        mean_z = self.denominator / n
        with np.errstate(divide="ignore", invalid="ignore"):
            influence = (y - self.value[:, None, None] * z) / mean_z[:, None, None]
        self.influence = np.where(self.denominator[:, None, None] > 0, influence, 0.0)

    def stderr(self) -> np.ndarray:
        return np.array([
            influence_stderr(self.confusion, psi) if d > 0 else np.nan
            for psi, d in zip(self.influence, self.denominator, strict=True)
        ])  # fmt: skip


def _score_rows(
    true_codes: np.ndarray, scores: np.ndarray, all_classes: np.ndarray, base: dict[str, str]
) -> list[PointRow]:
    rows: list[PointRow] = []
    n = float(len(true_codes))
    if scores.min() >= 0.0 and scores.max() <= 1.0:
        eps = np.finfo(np.float64).eps
        loss = -np.log(np.clip(scores[np.arange(len(true_codes)), true_codes], eps, 1 - eps))
        sd = float(np.std(loss, ddof=1)) if len(loss) > 1 else np.nan
        rows.append(point("classification.log_loss", dict(base), loss.mean(), n=n, stderr=float(mean_stderr(sd, n))))
    if len(all_classes) == 2:
        auc = auc_from_counts(*_score_counts(true_codes == 1, scores[:, 1]))
        if auc is not None:
            rows.append(point("classification.roc_auc", dict(base), auc[0], n=n, stderr=auc[1]))
        return rows
    aucs = []
    for j, c in enumerate(all_classes):
        auc = auc_from_counts(*_score_counts(true_codes == j, scores[:, j]))
        if auc is not None:
            aucs.append(auc[0])
            rows.append(point("classification.roc_auc", with_labels(base, **{"class": c}), auc[0], n=n, stderr=auc[1]))
    if aucs:
        # The one-vs-rest AUCs share their rows; their covariance is not estimated, so neither is the mean's stderr.
        rows.append(point("classification.roc_auc", with_labels(base, average="macro"), float(np.mean(aucs)), n=n))
    return rows


def _score_counts(positive: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positive and negative rows per distinct score, scores ascending."""
    _, inverse = np.unique(score, return_inverse=True)
    return np.bincount(inverse, weights=positive), np.bincount(inverse, weights=~positive)


def auc_from_counts(positives: np.ndarray, negatives: np.ndarray) -> tuple[float, float] | None:
    """ROC-AUC and its DeLong standard error from the positive and negative rows at each distinct score (ascending).

    AUC is the Mann-Whitney statistic: the share of (positive, negative) pairs where the
    positive scores higher, ties counting one half. DeLong et al. (1988): with placements
    V10 (per positive: share of negatives below it, ties ½) and V01 (per negative: share of
    positives above it), Var = S10/n₊ + S01/n₋, S the sample variances (ddof 1); NaN with a
    single positive or negative. None when AUC is undefined (no positive or no negative).

    >>> auc_from_counts(np.array([0.0, 1.0, 1.0]), np.array([1.0, 1.0, 0.0]))[0]
    0.875
    """
    n_pos, n_neg = float(positives.sum()), float(negatives.sum())
    if n_pos == 0 or n_neg == 0:
        return None
    below = np.cumsum(negatives) - negatives
    v10 = (below + 0.5 * negatives) / n_neg
    above = n_pos - np.cumsum(positives)
    v01 = (above + 0.5 * positives) / n_pos
    auc = float(np.dot(positives, v10) / n_pos)
    if n_pos < 2 or n_neg < 2:
        return auc, float("nan")
    s10 = np.dot(positives, (v10 - auc) ** 2) / (n_pos - 1)
    s01 = np.dot(negatives, (v01 - auc) ** 2) / (n_neg - 1)
    return auc, float(np.sqrt(s10 / n_pos + s01 / n_neg))


def _ratio(numerator: np.ndarray | float, denominator: np.ndarray | float) -> np.ndarray:
    numerator, denominator = np.asarray(numerator, dtype=np.float64), np.asarray(denominator, dtype=np.float64)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)
