"""Ranking and recommendation metrics with TREC semantics, as metric points.

Per-user metrics (``ndcg, map, mrr, recall, precision, hit_rate`` at each k) are
computed over a (users x k) matrix with numpy, without a per-user Python loop, and
averaged over users; list-level metrics (``coverage, entropy, novelty``) describe the
recommended-item distribution. Formulas, the tie rule and a worked example where
common libraries disagree are in ``docs/evaluation.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import entropy

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.evaluation.points import (
    PointRow,
    group_codes,
    point,
    points_frame,
    require_columns,
    with_labels,
)
from lupus_metrics.stats.standard_error import mean_stderr, sample_sd

USER_METRICS = ("ndcg", "map", "mrr", "recall", "precision", "hit_rate")
LIST_METRICS = ("coverage", "entropy", "novelty")
GAINS = ("linear", "exponential")
NO_RELEVANT_POLICIES = ("skip", "zero")


@dataclass(frozen=True)
class RankedLists:
    """Every user's top-``kmax`` list in rank order, with the judgments needed to score it.

    Row ``u`` of each matrix belongs to ``users[u]``; a list shorter than ``kmax`` is padded
    (item code -1, relevance 0).
    """

    users: pd.Index
    items: np.ndarray  # (users x kmax) item codes
    relevance: np.ndarray  # (users x kmax) relevance of the item at each rank; 0 when not judged
    ideal: np.ndarray  # (users x kmax) the user's positive relevance values, descending, 0-padded
    n_relevant: np.ndarray  # (users,) judged items with relevance > 0
    n_items: int  # distinct items in recommendations and relevance together
    popularity: np.ndarray  # (n_items,) users with relevance > 0 for each item
    n_judged_users: int  # distinct users in relevance


def evaluate_ranking(
    recommendations: pd.DataFrame,
    relevance: pd.DataFrame,
    *,
    k: int | Sequence[int] = (10,),
    metrics: Sequence[str] = USER_METRICS + LIST_METRICS,
    gain: str = "linear",
    no_relevant: str = "skip",
    group_by: str | Sequence[str] | None = None,
    catalog_size: int | None = None,
    ts: object,
) -> pd.DataFrame:
    """Ranking metrics of ``recommendations`` judged by ``relevance``, as metric points at ``ts``.

    ``recommendations`` has columns ``user, item, score`` (higher is better; one row per
    user and item); ``relevance`` has ``user, item, relevance`` (graded; > 0 is relevant).
    Each user's list is ordered by score descending, ties broken by item ascending.
    With ``rel_i`` the relevance of the item at rank i (0 if unjudged), ``R`` the user's
    number of relevant items and ``g`` the gain (``linear``: rel, ``exponential``: 2^rel - 1):

    - ``ndcg`` = sum_{i<=k} g(rel_i)/log2(i+1) divided by the same sum over the user's
      relevant items sorted by relevance (all judged items, not only the recommended ones).
    - ``map`` = sum_{i<=k, rel_i>0} precision@i / R;  ``mrr`` = 1/(rank of the first relevant
      item) if it is within k, else 0.
    - ``recall`` = hits@k / R;  ``precision`` = hits@k / k (also for lists shorter than k);
      ``hit_rate`` = 1 if hits@k > 0 else 0.
    - Users with R = 0: left out of the means (``no_relevant="skip"``, TREC's rule) or
      counted with 0 for every metric (``"zero"``). Users only in ``relevance`` are not evaluated.
    - ``coverage`` = distinct items in the top-k lists / ``catalog_size`` (default: distinct
      items in both frames); ``entropy`` = Shannon entropy (bits) of the item distribution in the
      top-k lists; ``novelty`` = mean over recommended items of -log2((n_i + 1) / (U + 1)), with
      n_i the users for whom item i is relevant and U the users in ``relevance``.

    Points: ``ranking.<metric>`` with label ``k``, the means over users (n = those users,
    stderr = sd/√n of the per-user values); ``ranking.users`` (users averaged over) and
    ``ranking.users_no_relevant``; list metrics have n = the lists (users served) and no stderr. With ``group_by`` (columns of
    ``recommendations``, one value per user) the same points follow for each group. A mean over
    no user (every user skipped) is left out rather than stored as NaN.

    Example:
        >>> recs = pd.DataFrame({"user": [1, 1, 2], "item": ["a", "b", "a"], "score": [0.9, 0.8, 0.5]})
        >>> rel = pd.DataFrame({"user": [1, 2], "item": ["b", "c"], "relevance": [1, 1]})
        >>> pts = evaluate_ranking(recs, rel, k=2, metrics=["mrr", "recall"], ts="2026-01-01")
        >>> pts.set_index("metric").loc[["ranking.mrr", "ranking.recall"], "value"].tolist()
        [0.25, 0.5]
    """
    ks = _check_ks(k)
    wanted = _check_choice(metrics, USER_METRICS + LIST_METRICS, "metrics")
    _check_choice([gain], GAINS, "gain")
    _check_choice([no_relevant], NO_RELEVANT_POLICIES, "no_relevant")
    columns = [group_by] if isinstance(group_by, str) else list(group_by or [])
    require_columns(recommendations, "recommendations", ["user", "item", "score", *columns])
    lists = rank_lists(recommendations, relevance, kmax=max(ks))
    user_group, group_labels = _user_groups(recommendations, columns, lists)
    if catalog_size is None:
        catalog_size = lists.n_items
    elif not isinstance(catalog_size, (int, np.integer)) or catalog_size < 1:
        raise LupusValidationError("catalog_size", "must be a positive integer", value=catalog_size)

    values = user_metric_values(lists, ks=ks, metrics=[m for m in wanted if m in USER_METRICS], gain=gain)
    counted = lists.n_relevant > 0 if no_relevant == "skip" else np.ones(len(lists.users), dtype=bool)
    n_groups = len(group_labels)
    users_all = np.bincount(user_group, minlength=n_groups).astype(np.float64)
    users_counted = np.bincount(user_group[counted], minlength=n_groups).astype(np.float64)
    users_no_relevant = np.bincount(user_group[lists.n_relevant == 0], minlength=n_groups).astype(np.float64)
    sums = {key: np.bincount(user_group[counted], weights=v[counted], minlength=n_groups) for key, v in values.items()}
    squares = {
        key: np.bincount(user_group[counted], weights=v[counted] ** 2, minlength=n_groups) for key, v in values.items()
    }
    list_values = {}
    for kk in ks:
        counts = _item_counts(lists, kk, user_group, n_groups) if set(wanted) & set(LIST_METRICS) else None
        for metric in wanted:
            if metric in LIST_METRICS:
                list_values[metric, kk] = _list_metric(lists, metric, counts, catalog_size)

    # Sums are kept per group; the overall value of a sum is the total over groups.
    rows: list[PointRow] = []
    for g, base in [(None, {}), *enumerate(group_labels if columns else [])]:
        selected = slice(None) if g is None else g
        n_counted = float(np.sum(users_counted[selected]))
        n_served = float(np.sum(users_all[selected]))
        rows.append(point("ranking.users", dict(base), n_counted, n=n_counted))
        rows.append(point("ranking.users_no_relevant", dict(base), np.sum(users_no_relevant[selected]), n=n_served))
        for kk in ks:
            for metric in wanted:
                labels = with_labels(base, k=kk)
                if metric in USER_METRICS and n_counted > 0:
                    total, total_sq = (
                        float(np.sum(sums[metric, kk][selected])),
                        float(np.sum(squares[metric, kk][selected])),
                    )
                    stderr = float(mean_stderr(sample_sd(total, total_sq, n_counted), n_counted))
                    rows.append(point(f"ranking.{metric}", labels, total / n_counted, n=n_counted, stderr=stderr))
                elif metric in LIST_METRICS:
                    # Describes the lists as a whole, not a mean over users: n = lists, no stderr.
                    overall, per_group = list_values[metric, kk]
                    rows.append(point(f"ranking.{metric}", labels, overall if g is None else per_group[g], n=n_served))
    return points_frame(rows, ts=ts)


def ranking_per_user(
    recommendations: pd.DataFrame,
    relevance: pd.DataFrame,
    *,
    k: int | Sequence[int] = (10,),
    metrics: Sequence[str] = USER_METRICS,
    gain: str = "linear",
) -> pd.DataFrame:
    """Per-user values behind :func:`evaluate_ranking`: one row per user, columns ``<metric>@<k>`` and ``n_relevant``.

    Same definitions as :func:`evaluate_ranking`; users with no relevant item get 0.

    Example:
        >>> recs = pd.DataFrame({"user": ["u", "u"], "item": [7, 8], "score": [0.2, 0.9]})
        >>> rel = pd.DataFrame({"user": ["u"], "item": [7], "relevance": [2]})
        >>> ranking_per_user(recs, rel, k=2, metrics=["mrr"]).to_dict("records")
        [{'mrr@2': 0.5, 'n_relevant': 1}]
    """
    ks = _check_ks(k)
    wanted = _check_choice(metrics, USER_METRICS, "metrics")
    _check_choice([gain], GAINS, "gain")
    lists = rank_lists(recommendations, relevance, kmax=max(ks))
    values = user_metric_values(lists, ks=ks, metrics=wanted, gain=gain)
    frame = pd.DataFrame({f"{m}@{kk}": values[m, kk] for kk in ks for m in wanted}, index=lists.users)
    frame["n_relevant"] = lists.n_relevant
    return frame


def rank_lists(recommendations: pd.DataFrame, relevance: pd.DataFrame, *, kmax: int) -> RankedLists:
    """Order every user's recommendations and attach the judgments (see :class:`RankedLists`)."""
    recs = require_columns(recommendations, "recommendations", ["user", "item", "score"])
    rel = require_columns(relevance, "relevance", ["user", "item", "relevance"])
    if len(recs) == 0:
        raise LupusValidationError("recommendations", "must not be empty")
    for frame, name in ((recs, "recommendations"), (rel, "relevance")):
        for column in ("user", "item"):
            missing = frame[column].isna().to_numpy()
            if missing.any():
                raise LupusValidationError(
                    f"{name}.{column}", "must not be missing", row=int(np.flatnonzero(missing)[0])
                )
    scores = _finite(recs["score"], "recommendations.score")
    grades = _finite(rel["relevance"], "relevance.relevance")

    user_codes, users = pd.factorize(recs["user"])
    n_users = len(users)
    try:
        item_codes, item_values = pd.factorize(pd.concat([recs["item"], rel["item"]], ignore_index=True), sort=True)
    except TypeError:
        raise LupusValidationError(
            "recommendations.item", "items must be all strings or all numbers, not a mix"
        ) from None
    n_items = len(item_values)
    rec_items, rel_items = item_codes[: len(recs)], item_codes[len(recs) :]

    top_rows = _top_rows(user_codes, scores, rec_items, n_users, kmax)
    filled = top_rows >= 0
    items = np.where(filled, rec_items[np.where(filled, top_rows, 0)], -1)

    rel_users = pd.Index(users).get_indexer(rel["user"])
    rel_keys = rel_users.astype(np.int64) * n_items + rel_items
    order = np.argsort(rel_keys, kind="stable")
    sorted_keys = rel_keys[order]
    duplicate = sorted_keys[1:] == sorted_keys[:-1]
    if duplicate.any():
        row = int(order[1:][duplicate][0])
        raise LupusValidationError("relevance", "must hold one judgment per (user, item)", row=row)
    # A linear scan of sorted keys: the queries come user by user, so this search stays cache-friendly.
    query = np.where(filled, np.arange(n_users)[:, None] * n_items + items, -1)
    position = np.clip(np.searchsorted(sorted_keys, query), 0, max(len(sorted_keys) - 1, 0))
    matched = filled & (sorted_keys[position] == query) if len(sorted_keys) else np.zeros_like(filled)
    rank_relevance = np.where(matched, grades[order][position] if len(sorted_keys) else 0.0, 0.0)
    rank_relevance = np.maximum(rank_relevance, 0.0)

    positive = (grades > 0) & (rel_users >= 0)
    ideal, n_relevant = _ideal_grades(rel_users[positive], grades[positive], n_users, kmax)
    popularity = np.bincount(rel_items[grades > 0], minlength=n_items)
    return RankedLists(
        users=pd.Index(users),
        items=items,
        relevance=rank_relevance,
        ideal=ideal,
        n_relevant=n_relevant,
        n_items=n_items,
        popularity=popularity,
        n_judged_users=int(rel["user"].nunique()),
    )


def user_metric_values(
    lists: RankedLists, *, ks: Sequence[int], metrics: Iterable[str], gain: str
) -> dict[tuple[str, int], np.ndarray]:
    """Per-user values of each metric at each k, keyed ``(metric, k)``; users with no relevant item get 0."""
    kmax = lists.items.shape[1]
    rel = lists.relevance
    hits = rel > 0
    hit_count = np.cumsum(hits, axis=1)
    n_rel = lists.n_relevant.astype(np.float64)
    safe_n_rel = np.maximum(n_rel, 1.0)
    ranks = np.arange(1, kmax + 1, dtype=np.float64)
    discount = 1.0 / np.log2(ranks + 1.0)
    cache: dict[str, np.ndarray] = {}

    def cumulative(name: str) -> np.ndarray:
        if name not in cache:
            if name == "dcg":
                cache[name] = np.cumsum(_gain(rel, gain) * discount, axis=1)
            elif name == "idcg":
                cache[name] = np.cumsum(_gain(lists.ideal, gain) * discount, axis=1)
            elif name == "ap":
                cache[name] = np.cumsum(np.where(hits, hit_count / ranks, 0.0), axis=1)
            elif name == "first_hit":
                cache[name] = np.where(hits.any(axis=1), hits.argmax(axis=1), kmax)
        return cache[name]

    out: dict[tuple[str, int], np.ndarray] = {}
    for metric in metrics:
        for k in ks:
            col = k - 1
            if metric == "ndcg":
                idcg = cumulative("idcg")[:, col]
                value = np.divide(cumulative("dcg")[:, col], idcg, out=np.zeros(len(idcg)), where=idcg > 0)
            elif metric == "map":
                value = cumulative("ap")[:, col] / safe_n_rel
            elif metric == "mrr":
                first = cumulative("first_hit")
                value = np.where(first < k, 1.0 / (first + 1.0), 0.0)
            elif metric == "recall":
                value = hit_count[:, col] / safe_n_rel
            elif metric == "precision":
                value = hit_count[:, col] / float(k)
            else:  # hit_rate
                value = (hit_count[:, col] > 0).astype(np.float64)
            out[metric, k] = value
    return out


def _top_rows(user_codes: np.ndarray, scores: np.ndarray, items: np.ndarray, n_users: int, kmax: int) -> np.ndarray:
    """(users x kmax) matrix of input row numbers in rank order (score desc, item asc); -1 pads short lists."""
    n = len(user_codes)
    counts = np.bincount(user_codes, minlength=n_users)
    width = int(counts.max())
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    # Rows usually come user by user already; then no sort is needed to group them.
    grouped = bool(np.all(user_codes[1:] >= user_codes[:-1]))
    by_user = np.arange(n) if grouped else np.argsort(user_codes, kind="stable")
    sorted_users = user_codes[by_user]
    if n_users * width <= 4 * n + 1024:
        # Lists of similar length: sort each user's row of a dense matrix (fast), instead of one global sort.
        if grouped and n == n_users * width:
            # Every list has the same length and rows come user by user: the grid is a reshape.
            neg_score = -scores.reshape(n_users, width)
            item_grid = items.astype(np.int64).reshape(n_users, width)
            row_grid = np.arange(n, dtype=np.int64).reshape(n_users, width)
        else:
            slot = np.arange(n) - starts[sorted_users]
            neg_score = np.full((n_users, width), np.inf)
            item_grid = np.full((n_users, width), np.iinfo(np.int64).max)
            row_grid = np.full((n_users, width), -1, dtype=np.int64)
            neg_score[sorted_users, slot] = -scores[by_user]
            item_grid[sorted_users, slot] = items[by_user]
            row_grid[sorted_users, slot] = by_user
        _reject_duplicate_items(item_grid, row_grid)
        order = np.lexsort((item_grid, neg_score), axis=-1)[:, :kmax]
        top = np.take_along_axis(row_grid, order, axis=1)
    else:
        # Very uneven list lengths: a dense matrix would be mostly padding, so sort globally.
        order = np.lexsort((items, -scores, user_codes))
        ordered_users = user_codes[order]
        slot = np.arange(n) - starts[ordered_users]
        keep = slot < kmax
        top = np.full((n_users, min(width, kmax)), -1, dtype=np.int64)
        top[ordered_users[keep], slot[keep]] = order[keep]
        keys = ordered_users.astype(np.int64) * (int(items.max()) + 1) + items[order]
        by_key = np.argsort(keys, kind="stable")
        same = keys[by_key][1:] == keys[by_key][:-1]
        if same.any():
            row = int(order[by_key[1:][same][0]])
            raise LupusValidationError("recommendations", "must list each item at most once per user", row=row)
    if top.shape[1] < kmax:
        top = np.hstack([top, np.full((n_users, kmax - top.shape[1]), -1, dtype=np.int64)])
    return top


def _reject_duplicate_items(item_grid: np.ndarray, row_grid: np.ndarray) -> None:
    order = np.argsort(item_grid, axis=1, kind="stable")
    sorted_items = np.take_along_axis(item_grid, order, axis=1)
    same = (sorted_items[:, 1:] == sorted_items[:, :-1]) & (sorted_items[:, 1:] != np.iinfo(np.int64).max)
    if same.any():
        where = np.argwhere(same)[0]
        row = int(np.take_along_axis(row_grid, order, axis=1)[where[0], where[1] + 1])
        raise LupusValidationError("recommendations", "must list each item at most once per user", row=row)


def _ideal_grades(users: np.ndarray, grades: np.ndarray, n_users: int, kmax: int) -> tuple[np.ndarray, np.ndarray]:
    n_relevant = np.bincount(users, minlength=n_users)
    order = np.lexsort((-grades, users))
    ordered_users = users[order]
    starts = np.concatenate([[0], np.cumsum(n_relevant)[:-1]])
    slot = np.arange(len(order)) - starts[ordered_users]
    keep = slot < kmax
    ideal = np.zeros((n_users, kmax))
    ideal[ordered_users[keep], slot[keep]] = grades[order][keep]
    return ideal, n_relevant


def _gain(relevance: np.ndarray, gain: str) -> np.ndarray:
    return relevance if gain == "linear" else np.exp2(relevance) - 1.0


def _item_counts(lists: RankedLists, k: int, user_group: np.ndarray, n_groups: int) -> np.ndarray:
    """How often each item appears in the top-k lists: row 0 over all users, then one row per group."""
    items = lists.items[:, :k]
    filled = items >= 0
    if n_groups == 1:
        overall = np.bincount(items[filled], minlength=lists.n_items).astype(np.float64)
        return np.vstack([overall, overall])
    groups = np.broadcast_to(user_group[:, None], items.shape)[filled]
    per_group = np.bincount(groups * lists.n_items + items[filled], minlength=n_groups * lists.n_items)
    per_group = per_group.reshape(n_groups, lists.n_items).astype(np.float64)
    return np.vstack([per_group.sum(axis=0), per_group])


def _list_metric(lists: RankedLists, metric: str, counts: np.ndarray, catalog_size: int) -> tuple[float, np.ndarray]:
    """Coverage, entropy or novelty from item counts (row 0 overall, then per group)."""
    if metric == "coverage":
        result = (counts > 0).sum(axis=1) / catalog_size
    elif metric == "entropy":
        result = entropy(counts, base=2, axis=1)
    else:
        info = -np.log2((lists.popularity + 1.0) / (lists.n_judged_users + 1.0))
        result = counts @ info / counts.sum(axis=1)
    return float(result[0]), result[1:]


def _user_groups(
    recommendations: pd.DataFrame, columns: list[str], lists: RankedLists
) -> tuple[np.ndarray, list[dict[str, str]]]:
    if not columns:
        return np.zeros(len(lists.users), dtype=np.int64), [{}]
    codes, labels = group_codes(recommendations, columns)
    user_codes = lists.users.get_indexer(recommendations["user"])
    user_group = np.empty(len(lists.users), dtype=np.int64)
    user_group[user_codes] = codes
    mismatch = user_group[user_codes] != codes
    if mismatch.any():
        raise LupusValidationError(
            "group_by", "each user must belong to one group (one value per user)", row=int(np.flatnonzero(mismatch)[0])
        )
    return user_group, labels


def _finite(column: pd.Series, name: str) -> np.ndarray:
    if len(column) == 0:
        return np.zeros(0)
    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        raise LupusValidationError(name, "must be numeric", value=str(column.dtype))
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        raise LupusValidationError(name, "must be finite numbers", row=int(np.flatnonzero(bad)[0]))
    return values


def _check_ks(k: int | Sequence[int]) -> list[int]:
    ks = [k] if isinstance(k, (int, np.integer)) else list(k)
    if not ks or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in ks):
        raise LupusValidationError("k", "must be a positive integer or a non-empty list of them", value=k)
    return sorted({int(v) for v in ks})


def _check_choice(values: Sequence[str], allowed: Sequence[str], name: str) -> list[str]:
    chosen = [values] if isinstance(values, str) else list(values)
    unknown = [v for v in chosen if v not in allowed]
    if unknown or not chosen:
        raise LupusValidationError(name, f"must be among {', '.join(allowed)}", value=unknown or chosen)
    return chosen
