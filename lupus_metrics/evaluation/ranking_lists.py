"""The per-list core of the ranking metrics: every user's top-k list ordered, judged and scored, in numpy.

:func:`rank_lists` orders each user's recommendations (score descending, ties by item
ascending) into a (users x k) matrix and attaches the judgments; :func:`user_metric_values`
scores every list at every k without a per-user Python loop. It works on one chunk of whole
users at a time (:mod:`lupus_metrics.evaluation.ranking` feeds it).

Example:
    >>> recs = pd.DataFrame({"user": ["u", "u"], "item": [7, 8], "score": [0.2, 0.9]})
    >>> rel = pd.DataFrame({"user": ["u"], "item": [7], "relevance": [2]})
    >>> lists = rank_lists(recs, rel, kmax=2)
    >>> lists.items.tolist(), user_metric_values(lists, ks=[2], metrics=["mrr"], gain="linear")["mrr", 2].tolist()
    ([[1, 0]], [0.5])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.evaluation.points import require_columns


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
    item_values: np.ndarray  # (n_items,) the item of each code
    popularity: np.ndarray  # (n_items,) users with relevance > 0 for each item
    n_judged_users: int  # distinct users in relevance


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

    # Served users keep their codes; users only judged get codes from n_users on, so that two of
    # them judging one item are not taken for a repeated judgment.
    rel_users = pd.Index(users).get_indexer(rel["user"])
    unserved = rel_users < 0
    if unserved.any():
        rel_users[unserved] = n_users + pd.factorize(rel["user"].to_numpy()[unserved])[0]
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

    positive = (grades > 0) & (rel_users < n_users)
    ideal, n_relevant = _ideal_grades(rel_users[positive], grades[positive], n_users, kmax)
    popularity = np.bincount(rel_items[grades > 0], minlength=n_items)
    return RankedLists(
        users=pd.Index(users),
        items=items,
        relevance=rank_relevance,
        ideal=ideal,
        n_relevant=n_relevant,
        n_items=n_items,
        item_values=np.asarray(item_values),
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
