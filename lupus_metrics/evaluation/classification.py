"""Classification metrics as metric points: accuracy, precision/recall/F1, confusion, label shares, log loss, ROC-AUC.

Definitions follow scikit-learn (and agree with it to 1e-12); formulas are in
``docs/evaluation.md``. Points are named ``classification.<metric>``; per-class
values carry ``class=<label>``, averages carry ``average=macro|micro|weighted``.

The rows are reduced where they live (:mod:`lupus_metrics.sql.tables`: DuckDB over
frames or lazily read files, or Spark) to a few small tables per group: the confusion
counts, the log-loss moments, and per class the rank sums behind ROC-AUC and DeLong's
variance. The points follow from those alone, so every engine gives the same ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.evaluation.inputs import as_float_vector, as_vector, groups_frame, same_length
from lupus_metrics.evaluation.points import PointRow, label_value, point, points_frame, with_labels
from lupus_metrics.sql.grouping import GroupedQuery, GroupKeys, key_of
from lupus_metrics.sql.tables import Dialect, Tables, float_literal, open_tables
from lupus_metrics.stats.standard_error import influence_stderr, mean_stderr, rate_stderr

AVERAGES = ("macro", "micro", "weighted")
_EPS = float(np.finfo(np.float64).eps)


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
    raises :class:`~lupus_metrics.errors.LupusValidationError`. Every point has ``n`` and
    ``stderr`` (docs/evaluation.md). For a table (files read lazily, Spark) see
    :func:`classification_points`.

    Example:
        >>> pts = evaluate_classification(["a", "b", "b"], ["a", "b", "a"], ts="2026-01-01")
        >>> pts.set_index("metric").loc["classification.accuracy", "value"].round(4)
        np.float64(0.6667)
    """
    truth = as_vector(y_true, "y_true")
    pred = as_vector(y_pred, "y_pred")
    same_length(truth, pred, ("y_true", "y_pred"))
    all_classes = _sorted_classes(truth, pred, classes)
    groups = groups_frame(group_by, len(truth))
    # Internal names cannot collide with a group column's (which becomes a label key).
    frame = pd.DataFrame({"__y_true": truth, "__y_pred": pred})
    scores: str | dict[object, str] | None = None
    if y_score is not None:
        matrix = _score_matrix(y_score, all_classes, len(truth))
        scores = {c: f"__score_{j}" for j, c in enumerate(all_classes.tolist())}
        frame = frame.assign(**{f"__score_{j}": matrix[:, j] for j in range(matrix.shape[1])})
        if not isinstance(y_score, pd.DataFrame) and np.ndim(y_score) == 1:
            scores = "__score_1"  # the positive class's; the negative's column is 1 - it
    frame = pd.concat([frame, groups], axis=1)
    return classification_points(
        frame, y_true="__y_true", y_pred="__y_pred", y_score=scores, classes=all_classes.tolist(),
        group_by=list(groups.columns), ts=ts,
    )  # fmt: skip


def classification_points(
    data: Any,
    *,
    y_true: str,
    y_pred: str,
    y_score: str | Sequence[str] | Mapping[object, str] | None = None,
    classes: Sequence[object] | None = None,
    group_by: Sequence[str] = (),
    ts: object,
) -> pd.DataFrame:
    """:func:`evaluate_classification` over the columns of a table, computed where the table is.

    ``data`` is a pandas DataFrame, a pyarrow Table, a DuckDB relation (e.g. Parquet files read
    lazily) or a PySpark DataFrame. ``y_score`` names the score columns: one column (binary: the
    positive class's score, the negative's being 1 - it), a mapping class -> column, or a list of
    columns named after the classes. ``group_by`` names group columns.

    Example:
        >>> data = pd.DataFrame({"label": ["a", "b", "b"], "guess": ["a", "b", "a"], "p_b": [0.2, 0.9, 0.6]})
        >>> pts = classification_points(data, y_true="label", y_pred="guess", y_score="p_b", ts="2026-01-01")
        >>> pts.set_index("metric").loc["classification.roc_auc", ["value", "n"]].astype(float).tolist()
        [1.0, 3.0]
    """
    group_columns = list(group_by)
    with open_tables(data=data) as tables:
        ident = tables.dialect.ident
        score_columns = _score_columns(y_score)
        types = tables.require("data", "data", [y_true, y_pred, *[c for c in score_columns.values()], *group_columns])
        _check_label_kinds(types[y_true].kind, types[y_pred].kind)
        for column in score_columns.values():
            if types[column].kind != "numeric":
                raise LupusValidationError(
                    "y_score", f"score column {column!r} must be numeric", value=types[column].kind
                )
        query = GroupedQuery(tables.dialect, group_columns)
        labels = f"{ident(y_true)} AS t, {ident(y_pred)} AS p"
        confusion = tables.query(query.aggregate("count(*) AS n", query.source(labels), by=["t", "p"]))
        if confusion.empty:
            raise LupusValidationError("y_true", "must not be empty")
        all_classes = _classes_of(confusion, classes)
        groups = GroupKeys(confusion, group_columns)
        rows: dict[tuple, list[PointRow]] = {key: [] for key in groups.keys}
        for key, cells in confusion.groupby(groups.key_columns, dropna=False, sort=False):
            present = np.unique(np.concatenate([cells["t"].to_numpy(), cells["p"].to_numpy()]))
            matrix = np.zeros((len(present), len(present)))
            np.add.at(matrix, (np.searchsorted(present, cells["t"]), np.searchsorted(present, cells["p"])), cells["n"])
            rows[key_of(key)].extend(
                confusion_rows(matrix, [label_value(c) for c in present], groups.labels(key_of(key)))
            )
        if score_columns:
            class_scores = _class_scores(tables.dialect, score_columns, all_classes)
            for key, score_rows in _score_points(tables, query, labels, class_scores, all_classes, groups).items():
                rows[key].extend(score_rows)
    return points_frame([r for key in groups.keys for r in rows[key]], ts=ts)


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


def _score_columns(y_score: str | Sequence[str] | Mapping[object, str] | None) -> dict[object, str]:
    """Class -> score column; a single column is keyed by None (binary positive-class score)."""
    if y_score is None:
        return {}
    if isinstance(y_score, str):
        return {None: y_score}
    if isinstance(y_score, Mapping):
        return dict(y_score)
    return {c: c for c in y_score}


def _class_scores(dialect: Dialect, score_columns: dict[object, str], all_classes: list[object]) -> dict[object, str]:
    """Class -> SQL expression of its score. A single column is the positive class's; the negative's is 1 - it."""
    ident = dialect.ident
    if None in score_columns:
        if len(all_classes) != 2:
            raise LupusValidationError(
                "y_score", "a single score column needs exactly two classes (pass classes=[negative, positive])",
                value=[label_value(c) for c in all_classes],
            )  # fmt: skip
        positive = ident(score_columns[None])
        return {all_classes[0]: f"(1.0 - {positive})", all_classes[1]: positive}
    by_text = {label_value(c): column for c, column in score_columns.items()}
    absent = [label_value(c) for c in all_classes if label_value(c) not in by_text]
    if absent:
        raise LupusValidationError(
            "y_score", f"needs one score column per class ({', '.join(label_value(c) for c in all_classes)})",
            value=absent,
        )  # fmt: skip
    return {c: ident(by_text[label_value(c)]) for c in all_classes}


def _check_label_kinds(true_kind: str, pred_kind: str) -> None:
    kinds = {true_kind, pred_kind}
    if len(kinds) > 1 or kinds - {"string", "numeric", "boolean"}:
        raise LupusValidationError(
            "y_true", "labels must be all strings or all numbers, not a mix", value=sorted(kinds)
        )


def _classes_of(confusion: pd.DataFrame, classes: Sequence[object] | None) -> list[object]:
    for column, name in (("t", "y_true"), ("p", "y_pred")):
        if confusion[column].isna().any():
            raise LupusValidationError(name, "must not contain missing values")
    return _sorted_classes(confusion["t"].to_numpy(), confusion["p"].to_numpy(), classes).tolist()


def _score_points(
    tables: Tables,
    query: GroupedQuery,
    label_sql: str,
    class_scores: dict[object, str],
    all_classes: list[object],
    groups: GroupKeys,
) -> dict[tuple, list[PointRow]]:
    # Two classes: one AUC, of the last class (the positive) against the other.
    binary = len(all_classes) == 2
    every = list(class_scores.values())
    # p of the true class, clipped as scikit-learn's log_loss does.
    p_true = (
        "CASE t " + " ".join(f"WHEN {tables.dialect.literal(c)} THEN {e}" for c, e in class_scores.items()) + " END"
    )
    clipped = f"greatest(least({p_true}, {float_literal(1.0 - _EPS)}), {float_literal(_EPS)})"
    bad = " OR ".join(tables.dialect.not_finite(e) for e in every)
    source = query.source(
        label_sql, f"-ln({clipped}) AS loss", f"{_least(every)} AS lo", f"{_greatest(every)} AS hi",
        f"CASE WHEN {bad} THEN 1 ELSE 0 END AS bad",
    )  # fmt: skip
    moments = tables.query(query.aggregate(
        "count(*) AS n, min(lo) AS lo, max(hi) AS hi, sum(bad) AS bad, avg(loss) AS loss, stddev_samp(loss) AS loss_sd",
        source))  # fmt: skip
    if moments["bad"].sum() > 0:
        raise LupusValidationError("y_score", "must be finite (no missing, NaN or infinite score)")
    out: dict[tuple, list[PointRow]] = {key: [] for key in groups.keys}
    for row in moments.itertuples(index=False):
        key = groups.key(row)
        if row.lo >= 0.0 and row.hi <= 1.0:
            stderr = float(mean_stderr(row.loss_sd, row.n))
            out[key].append(point("classification.log_loss", groups.labels(key), row.loss, n=row.n, stderr=stderr))
    targets = [all_classes[1]] if binary else all_classes
    aucs: dict[tuple, list[float]] = {key: [] for key in groups.keys}
    for c in targets:
        for row in tables.query(_auc_sql(query, label_sql, class_scores[c], c)).itertuples(index=False):
            key = groups.key(row)
            auc = auc_from_sums(row.n_pos, row.n_neg, row.u, row.v10sq, row.v01sq)
            if auc is None:
                continue
            labels = groups.labels(key)
            n = float(row.n_pos + row.n_neg)
            if not binary:
                aucs[key].append(auc[0])
                labels = with_labels(labels, **{"class": c})
            out[key].append(point("classification.roc_auc", labels, auc[0], n=n, stderr=auc[1]))
    for key, values in aucs.items():
        if values:
            # The one-vs-rest AUCs share their rows; their covariance is not estimated, so neither is the mean's stderr.
            n = next(r[3] for r in out[key] if r[0] == "classification.roc_auc")
            out[key].append(point("classification.roc_auc", with_labels(groups.labels(key), average="macro"),
                                  float(np.mean(values)), n=n))  # fmt: skip
    return out


def _least(expressions: list[str]) -> str:
    return expressions[0] if len(expressions) == 1 else f"least({', '.join(expressions)})"


def _greatest(expressions: list[str]) -> str:
    return expressions[0] if len(expressions) == 1 else f"greatest({', '.join(expressions)})"


def _auc_sql(query: GroupedQuery, label_sql: str, score: str, positive: object) -> str:
    """Per group: positives, negatives, the Mann-Whitney sum and the sums of squared DeLong placements.

    Rows are first counted per distinct score (positives, negatives), so ties are handled
    exactly and the window runs over distinct scores, not rows.
    """
    is_positive = f"t = {query.dialect.literal(positive)}"
    counted = query.aggregate(
        f"sum(CASE WHEN {is_positive} THEN 1 ELSE 0 END) AS pos, sum(CASE WHEN {is_positive} THEN 0 ELSE 1 END) AS neg",
        query.source(label_sql, f"{score} AS v"), by=["v"],
    )  # fmt: skip
    over = query.partition
    placed = (
        f"SELECT *, coalesce(sum(neg) OVER ({over} ORDER BY v ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS below, "
        f"coalesce(sum(pos) OVER ({over} ORDER BY v ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING), 0) AS above, "
        f"sum(pos) OVER ({over}) AS n_pos, sum(neg) OVER ({over}) AS n_neg FROM counted"
    )
    return (
        f"WITH counted AS ({counted}), placed AS ({placed}) "
        f"SELECT {query.key_list}, max(n_pos) AS n_pos, max(n_neg) AS n_neg, "
        f"sum(pos * (below + 0.5 * neg)) AS u, "
        f"sum(pos * power((below + 0.5 * neg) / nullif(n_neg, 0), 2)) AS v10sq, "
        f"sum(neg * power((above + 0.5 * pos) / nullif(n_pos, 0), 2)) AS v01sq "
        f"FROM placed GROUP BY {query.key_list}"
    )


def auc_from_sums(n_pos: float, n_neg: float, u: float, v10sq: float, v01sq: float) -> tuple[float, float] | None:
    """ROC-AUC and its DeLong standard error from the sums a ranking pass gives.

    ``u`` is the Mann-Whitney sum (per positive, the negatives scored below it, ties ½);
    ``v10sq`` / ``v01sq`` the sums of the squared placements (a positive's share of negatives
    below it, a negative's share of positives above it). AUC = u / (n₊ n₋), the share of
    (positive, negative) pairs ranked right. DeLong et al. (1988): Var = S10/n₊ + S01/n₋, S the
    sample variances (ddof 1) of the placements, whose means are both AUC; NaN with a single
    positive or negative. None when AUC is undefined (no positive or no negative).

    Positives scored 2 and 3, negatives 1 and 2.5: placements 0.5 and 1 on both sides.

    >>> auc, stderr = auc_from_sums(2, 2, 3.0, 1.25, 1.25)
    >>> auc, round(stderr, 6)
    (0.75, 0.353553)
    """
    n_pos, n_neg = float(n_pos), float(n_neg)
    if n_pos == 0 or n_neg == 0:
        return None
    auc = float(u) / (n_pos * n_neg)
    if n_pos < 2 or n_neg < 2:
        return auc, float("nan")
    s10 = max(float(v10sq) - n_pos * auc * auc, 0.0) / (n_pos - 1)
    s01 = max(float(v01sq) - n_neg * auc * auc, 0.0) / (n_neg - 1)
    return auc, float(np.sqrt(s10 / n_pos + s01 / n_neg))


def _ratio(numerator: np.ndarray | float, denominator: np.ndarray | float) -> np.ndarray:
    numerator, denominator = np.asarray(numerator, dtype=np.float64), np.asarray(denominator, dtype=np.float64)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)
