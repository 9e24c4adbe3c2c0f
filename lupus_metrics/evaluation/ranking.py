"""Ranking and recommendation metrics with TREC semantics, as metric points.

Per-user metrics (``ndcg, map, mrr, recall, precision, hit_rate`` at each k) are computed
over a (users x k) matrix with numpy (:mod:`lupus_metrics.evaluation.ranking_lists`), one chunk
of whole users at a time, and averaged over users; list-level metrics (``coverage, entropy,
novelty``) describe the recommended-item distribution. Formulas, the tie rule and a worked
example where common libraries disagree are in ``docs/evaluation.md``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import entropy

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.evaluation.points import PointRow, group_codes, point, points_frame, with_labels
from lupus_metrics.evaluation.ranking_lists import RankedLists, rank_lists, user_metric_values
from lupus_metrics.sql.tables import Tables, open_tables
from lupus_metrics.stats.standard_error import mean_stderr, sample_sd

USER_METRICS = ("ndcg", "map", "mrr", "recall", "precision", "hit_rate")
LIST_METRICS = ("coverage", "entropy", "novelty")
GAINS = ("linear", "exponential")
NO_RELEVANT_POLICIES = ("skip", "zero")
#: Recommendations per chunk when the tables are not already in memory (``LUPUS_RANKING_CHUNK_ROWS``
#: overrides it): about 1.5 GB of numpy work at its peak. Fewer, larger chunks mean fewer scans.
CHUNK_ROWS = 8_000_000


def evaluate_ranking(
    recommendations: Any,
    relevance: Any,
    *,
    k: int | Sequence[int] = (10,),
    metrics: Sequence[str] = USER_METRICS + LIST_METRICS,
    gain: str = "linear",
    no_relevant: str = "skip",
    group_by: str | Sequence[str] | None = None,
    catalog_size: int | None = None,
    chunk_rows: int | None = None,
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

    ``recommendations`` and ``relevance`` are pandas DataFrames, pyarrow Tables, DuckDB relations
    (of one connection, e.g. Parquet files read lazily) or PySpark DataFrames. Tables that are not
    already in memory are evaluated in chunks of whole users (a hash of the user picks the chunk,
    about ``chunk_rows`` recommendations each, default :data:`CHUNK_ROWS`), so memory stays bounded however
    many users a day has.

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
    if catalog_size is not None and (not isinstance(catalog_size, (int, np.integer)) or catalog_size < 1):
        raise LupusValidationError("catalog_size", "must be a positive integer", value=catalog_size)
    columns = [group_by] if isinstance(group_by, str) else list(group_by or [])
    lists_wanted = [m for m in wanted if m in LIST_METRICS]
    totals = _Totals()
    with open_tables(recommendations=recommendations, relevance=relevance) as tables:
        _check_tables(tables, columns)
        buckets = _bucket_count(tables, chunk_rows or int(os.environ.get("LUPUS_RANKING_CHUNK_ROWS") or CHUNK_ROWS))
        # One chunk holds every user: its lists know the catalogue; several need it from the whole tables.
        catalogue = _catalogue(tables) if lists_wanted and buckets > 1 else None
        for recs, rel in _chunks(tables, columns, buckets):
            lists = rank_lists(recs, rel, kmax=max(ks))
            if lists_wanted and buckets == 1:
                catalogue = _Catalogue.of(lists)
            totals.add(lists, *_user_groups(recs, columns, lists), ks=ks, wanted=wanted, gain=gain,
                       no_relevant=no_relevant, list_metrics=bool(lists_wanted))  # fmt: skip
    if catalogue is not None and catalog_size is None:
        catalog_size = catalogue.n_items
    rows: list[PointRow] = []
    for group, base in [(None, {}), *((g, dict(g)) for g in sorted(totals.groups) if columns)]:
        rows.extend(totals.points(group, base, ks=ks, wanted=wanted, catalogue=catalogue, catalog_size=catalog_size))
    return points_frame(rows, ts=ts)


def ranking_per_user(
    recommendations: Any,
    relevance: Any,
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
    parts = []
    with open_tables(recommendations=recommendations, relevance=relevance) as tables:
        _check_tables(tables, [])
        for recs, rel in _chunks(tables, [], _bucket_count(tables, CHUNK_ROWS)):
            lists = rank_lists(recs, rel, kmax=max(ks))
            values = user_metric_values(lists, ks=ks, metrics=wanted, gain=gain)
            frame = pd.DataFrame({f"{m}@{kk}": values[m, kk] for kk in ks for m in wanted}, index=lists.users)
            frame["n_relevant"] = lists.n_relevant
            parts.append(frame)
    return pd.concat(parts) if len(parts) > 1 else parts[0]


GroupKey = tuple[tuple[str, str], ...]


@dataclass
class _Catalogue:
    """Item facts over the whole of both tables: how many items, and how many users find each relevant."""

    n_items: int
    popularity: pd.Series  # item -> users with relevance > 0
    n_judged_users: int

    @classmethod
    def of(cls, lists: RankedLists) -> _Catalogue:
        """The catalogue of lists that hold every user (one chunk)."""
        popularity = pd.Series(lists.popularity.astype(np.float64), index=lists.item_values)
        return cls(lists.n_items, popularity, lists.n_judged_users)


def _catalogue(tables: Tables) -> _Catalogue:
    user, item, grade = (tables.dialect.ident(c) for c in ("user", "item", "relevance"))
    n_items = tables.query(
        f"SELECT count(*) AS n FROM (SELECT {item} FROM recommendations UNION SELECT {item} FROM relevance) AS items"
    )["n"].iloc[0]
    popular = tables.query(f"SELECT {item} AS item, count(*) AS users FROM relevance WHERE {grade} > 0 GROUP BY {item}")
    judged = tables.query(f"SELECT count(DISTINCT {user}) AS n FROM relevance")["n"].iloc[0]
    return _Catalogue(int(n_items), popular.set_index("item")["users"].astype(np.float64), int(judged))


def _check_tables(tables: Tables, columns: list[str]) -> None:
    recs = tables.require("recommendations", "recommendations", ["user", "item", "score", *columns])
    rel = tables.require("relevance", "relevance", ["user", "item", "relevance"])
    kinds = {recs["item"].kind, rel["item"].kind} - {"null"}
    if len(kinds) > 1:
        raise LupusValidationError("recommendations.item", "items must be all strings or all numbers, not a mix")


def _bucket_count(tables: Tables, chunk_rows: int) -> int:
    """1 for tables already in memory, else enough hash buckets of users for about ``chunk_rows`` recommendations each."""
    if tables.in_memory:
        return 1
    return max(1, math.ceil(tables.count("recommendations") / max(chunk_rows, 1)))


def _chunks(tables: Tables, columns: list[str], buckets: int):
    """``(recommendations, relevance)`` frames of whole users: the tables themselves in one bucket, else hash buckets."""
    recs_columns, rel_columns = ["user", "item", "score", *columns], ["user", "item", "relevance"]
    if buckets == 1:
        yield tables.fetch("recommendations", recs_columns), tables.fetch("relevance", rel_columns)
        return
    user = tables.dialect.ident("user")
    types = tables.type_names("recommendations")["user"], tables.type_names("relevance")["user"]
    # A user hashes alike on both sides only if both sides read it as one type.
    key = user if types[0] == types[1] else f"CAST({user} AS {types[0]})"
    for bucket in range(buckets):
        yield (
            tables.fetch("recommendations", recs_columns, f"{tables.dialect.bucket(user, buckets)} = {bucket}"),
            tables.fetch("relevance", rel_columns, f"{tables.dialect.bucket(key, buckets)} = {bucket}"),
        )


@dataclass
class _Totals:
    """Sums over the chunks, per group (key: the group's labels as sorted pairs)."""

    groups: dict[GroupKey, int] = field(default_factory=dict)  # group -> its id in ``item_counts``
    users_all: dict[GroupKey, float] = field(default_factory=dict)
    users_counted: dict[GroupKey, float] = field(default_factory=dict)
    users_no_relevant: dict[GroupKey, float] = field(default_factory=dict)
    sums: dict[tuple[GroupKey, str, int], float] = field(default_factory=dict)
    squares: dict[tuple[GroupKey, str, int], float] = field(default_factory=dict)
    item_counts: dict[int, pd.Series] = field(default_factory=dict)  # k -> (group, item) -> slots

    def add(
        self, lists: RankedLists, user_group: np.ndarray, group_labels: list[dict[str, str]], *,
        ks: list[int], wanted: list[str], gain: str, no_relevant: str, list_metrics: bool,
    ) -> None:  # fmt: skip
        keys = [tuple(sorted(labels.items())) for labels in group_labels]
        ids = np.array([self.groups.setdefault(key, len(self.groups)) for key in keys], dtype=np.int64)
        n_groups = len(keys)
        counted = lists.n_relevant > 0 if no_relevant == "skip" else np.ones(len(lists.users), dtype=bool)
        values = user_metric_values(lists, ks=ks, metrics=[m for m in wanted if m in USER_METRICS], gain=gain)
        per_group = {
            "all": np.bincount(user_group, minlength=n_groups),
            "counted": np.bincount(user_group[counted], minlength=n_groups),
            "no_relevant": np.bincount(user_group[lists.n_relevant == 0], minlength=n_groups),
        }
        for g, key in enumerate(keys):
            _add(self.users_all, key, per_group["all"][g])
            _add(self.users_counted, key, per_group["counted"][g])
            _add(self.users_no_relevant, key, per_group["no_relevant"][g])
        for (metric, kk), v in values.items():
            sums = np.bincount(user_group[counted], weights=v[counted], minlength=n_groups)
            squares = np.bincount(user_group[counted], weights=v[counted] ** 2, minlength=n_groups)
            for g, key in enumerate(keys):
                _add(self.sums, (key, metric, kk), sums[g])
                _add(self.squares, (key, metric, kk), squares[g])
        if list_metrics:
            for kk in ks:
                counts = _item_counts(lists, kk, user_group, n_groups)
                group_index, item_index = np.nonzero(counts)
                index = pd.MultiIndex.from_arrays([ids[group_index], lists.item_values[item_index]])
                found = pd.Series(counts[group_index, item_index], index=index)
                before = self.item_counts.get(kk)
                self.item_counts[kk] = found if before is None else before.add(found, fill_value=0.0)

    def points(
        self, group: GroupKey | None, base: dict[str, str], *, ks: list[int], wanted: list[str],
        catalogue: _Catalogue | None, catalog_size: int | None,
    ) -> list[PointRow]:  # fmt: skip
        """The group's points (``group`` None: overall, the totals over every group)."""
        chosen = list(self.groups) if group is None else [group]
        n_counted = sum(self.users_counted.get(g, 0.0) for g in chosen)
        n_served = sum(self.users_all.get(g, 0.0) for g in chosen)
        rows = [
            point("ranking.users", dict(base), n_counted, n=n_counted),
            point(
                "ranking.users_no_relevant",
                dict(base),
                sum(self.users_no_relevant.get(g, 0.0) for g in chosen),
                n=n_served,
            ),
        ]
        for kk in ks:
            for metric in wanted:
                labels = with_labels(base, k=kk)
                if metric in USER_METRICS and n_counted > 0:
                    total = sum(self.sums.get((g, metric, kk), 0.0) for g in chosen)
                    total_sq = sum(self.squares.get((g, metric, kk), 0.0) for g in chosen)
                    stderr = float(mean_stderr(sample_sd(total, total_sq, n_counted), n_counted))
                    rows.append(point(f"ranking.{metric}", labels, total / n_counted, n=n_counted, stderr=stderr))
                elif metric in LIST_METRICS and catalogue is not None:
                    counts = self._items(kk, chosen)
                    # Describes the lists as a whole, not a mean over users: n = lists, no stderr.
                    rows.append(point(f"ranking.{metric}", labels, _list_metric(metric, counts, catalogue, catalog_size),
                                      n=n_served))  # fmt: skip
        return rows

    def _items(self, k: int, groups: list[GroupKey]) -> pd.Series:
        """Slots per item in the top-k lists of ``groups``."""
        counts = self.item_counts.get(k)
        if counts is None or counts.empty:
            return pd.Series(dtype=np.float64)
        ids = [self.groups[g] for g in groups]
        chosen = counts[counts.index.get_level_values(0).isin(ids)]
        return chosen.groupby(level=1).sum()


def _add(totals: dict, key: object, value: float) -> None:
    totals[key] = totals.get(key, 0.0) + float(value)


def _item_counts(lists: RankedLists, k: int, user_group: np.ndarray, n_groups: int) -> np.ndarray:
    """(groups x items) slots of each item in the top-k lists of each group (items by code)."""
    items = lists.items[:, :k]
    filled = items >= 0
    groups = np.broadcast_to(user_group[:, None], items.shape)[filled]
    counts = np.bincount(groups * lists.n_items + items[filled], minlength=n_groups * lists.n_items)
    return counts.reshape(n_groups, lists.n_items).astype(np.float64)


def _list_metric(metric: str, counts: pd.Series, catalogue: _Catalogue, catalog_size: int | None) -> float:
    """Coverage, entropy or novelty from the slots per item of the lists."""
    if metric == "coverage":
        return float((counts > 0).sum() / catalog_size)
    if metric == "entropy":
        return float(entropy(counts.to_numpy(), base=2)) if len(counts) else float("nan")
    popularity = catalogue.popularity.reindex(counts.index).fillna(0.0).to_numpy()
    info = -np.log2((popularity + 1.0) / (catalogue.n_judged_users + 1.0))
    return float(np.dot(counts.to_numpy(), info) / counts.sum())


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
