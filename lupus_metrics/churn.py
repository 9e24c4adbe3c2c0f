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
from typing import Any

import numpy as np
import pandas as pd

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.evaluation.points import PointRow, label_value, point, points_frame, with_labels
from lupus_metrics.sql.grouping import GroupedQuery, GroupKeys, key_of
from lupus_metrics.sql.tables import Dialect, Tables, open_tables
from lupus_metrics.stats.standard_error import mean_stderr, rate_stderr

KINDS = ("label", "score")


def prediction_churn(
    previous: Any,
    current: Any,
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
    if kind is not None and kind not in KINDS:
        raise LupusValidationError("kind", "must be 'label' or 'score'", value=kind)
    with open_tables(previous=previous, current=current) as tables:
        sides = {name: tables.require(name, name, [*keys, prediction, *group_cols]) for name in ("previous", "current")}
        query = _ChurnQuery(tables.dialect, keys, prediction, group_cols)
        _check_sides(tables, query, sides)
        resolved = kind or ("score" if all(sides[s][prediction].floating for s in sides) else "label")
        if resolved == "label" and len({sides[s][prediction].kind for s in sides}) > 1:
            raise LupusValidationError("prediction", "labels must be all strings or all numbers, not a mix")
        counts = tables.query(query.counts(resolved))
        groups = GroupKeys(counts, group_cols)
        rows: dict[tuple, list[PointRow]] = {k: [] for k in groups.keys}
        for row in counts.itertuples(index=False):
            k = groups.key(row)
            base = groups.labels(k)
            entities = float(row.common + row.only_previous + row.only_current)
            rows[k].append(point("churn.entities_common", dict(base), row.common, n=entities))
            rows[k].append(point("churn.entities_only_previous", dict(base), row.only_previous, n=entities))
            rows[k].append(point("churn.entities_only_current", dict(base), row.only_current, n=entities))
            if resolved == "score" and row.common > 0:
                if row.bad > 0:
                    raise LupusValidationError("prediction", "scores must be finite numbers")
                n = float(row.common)
                rows[k].append(point("churn.mean_abs_change", dict(base), row.change, n=n,
                                     stderr=float(mean_stderr(_float(row.change_sd), n))))  # fmt: skip
        if resolved == "label":
            transitions = tables.query(query.transitions())
            for k, cells in transitions.groupby(groups.key_columns, dropna=False, sort=False):
                rows[key_of(k)].extend(_label_rows(cells, groups.labels(key_of(k))))
        else:
            for row in tables.query(query.spearman()).itertuples(index=False):
                k = groups.key(row)
                if row.n >= 2 and row.lo_before < row.hi_before and row.lo_after < row.hi_after:
                    rho = float(row.rho_all if k[0] != 0 else row.rho_group)
                    rows[k].append(
                        point("churn.spearman", groups.labels(k), rho, n=row.n, stderr=spearman_stderr(rho, row.n))
                    )
    return points_frame([r for k in groups.keys for r in rows[k]], ts=ts)


class _ChurnQuery:
    """The SQL of a churn comparison: both sides joined on the key, one row per entity."""

    def __init__(self, dialect: Dialect, keys: list[str], prediction: str, group_by: list[str]):
        self.dialect, self.keys, self.prediction = dialect, keys, prediction
        self.grouped = GroupedQuery(dialect, group_by, table="joined")
        ident = dialect.ident
        key_columns = [f"{ident(k)} AS k{i}" for i, k in enumerate(keys)]

        def side(name: str, value: str) -> str:
            groups = [f"{ident(g)} AS {ident(a)}" for g, a in zip(group_by, self.grouped.aliases, strict=True)]
            return f"SELECT {', '.join([*key_columns, *groups, f'{ident(prediction)} AS {value}', '1 AS present'])} FROM {name}"

        on = " AND ".join(f"p.k{i} = c.k{i}" for i in range(len(keys)))
        # An entity's group is its current value, its previous one if it only exists before.
        groups = [f"CASE WHEN c.present IS NOT NULL THEN c.{ident(a)} ELSE p.{ident(a)} END AS {ident(a)}"
                  for a in self.grouped.aliases]  # fmt: skip
        self.joined = (
            f"WITH p AS ({side('previous', 'before')}), c AS ({side('current', 'after')}), "
            f"joined AS (SELECT {', '.join([*groups, 'p.present AS in_p', 'c.present AS in_c', 'p.before', 'c.after'])} "
            f"FROM p FULL OUTER JOIN c ON {on}) "
        )

    def _over(self, select: str, where: str = "", by: tuple[str, ...] = ()) -> str:
        source = f"(SELECT * FROM joined{' WHERE ' + where if where else ''}) AS rows_"
        return self.joined + self.grouped.aggregate(select, source, by=by)

    def counts(self, kind: str) -> str:
        common = "in_p IS NOT NULL AND in_c IS NOT NULL"
        select = [
            f"sum(CASE WHEN {common} THEN 1 ELSE 0 END) AS common",
            "sum(CASE WHEN in_c IS NULL THEN 1 ELSE 0 END) AS only_previous",
            "sum(CASE WHEN in_p IS NULL THEN 1 ELSE 0 END) AS only_current",
        ]
        if kind == "score":
            change = f"CASE WHEN {common} THEN abs(CAST(after AS DOUBLE) - CAST(before AS DOUBLE)) END"
            bad = " OR ".join(self.dialect.not_finite(f"CAST({v} AS DOUBLE)") for v in ("before", "after"))
            select += [f"avg({change}) AS change", f"stddev_samp({change}) AS change_sd",
                       f"sum(CASE WHEN {common} AND ({bad}) THEN 1 ELSE 0 END) AS bad"]  # fmt: skip
        return self._over(", ".join(select))

    def transitions(self) -> str:
        return self._over("count(*) AS n", "in_p IS NOT NULL AND in_c IS NOT NULL", by=("before", "after"))

    def spearman(self) -> str:
        """Spearman's ρ = Pearson's correlation of the average ranks (ties share their mean rank)."""
        keys = self.grouped.keys

        def average_rank(value: str, partition: str) -> str:
            over = f"PARTITION BY {partition}" if partition else ""
            ties = f"PARTITION BY {partition + ', ' if partition else ''}{value}"
            return f"rank() OVER ({over} ORDER BY {value}) + (count(*) OVER ({ties}) - 1) / 2.0"

        ranks = [f"{average_rank('b', '')} AS rb_all", f"{average_rank('a', '')} AS ra_all"]
        if keys:
            ranks += [f"{average_rank('b', keys)} AS rb_g", f"{average_rank('a', keys)} AS ra_g"]
        else:
            ranks += ["0.0 AS rb_g", "0.0 AS ra_g"]
        common = (
            f"SELECT {keys + ', ' if keys else ''}CAST(before AS DOUBLE) AS b, CAST(after AS DOUBLE) AS a FROM joined "
            "WHERE in_p IS NOT NULL AND in_c IS NOT NULL"
        )
        ranked = f"(SELECT *, {', '.join(ranks)} FROM ({common}) AS common) AS rows_"
        select = ("count(*) AS n, corr(rb_all, ra_all) AS rho_all, corr(rb_g, ra_g) AS rho_group, "
                  "min(b) AS lo_before, max(b) AS hi_before, min(a) AS lo_after, max(a) AS hi_after")  # fmt: skip
        return self.joined + self.grouped.aggregate(select, ranked)


def _check_sides(tables: Tables, query: _ChurnQuery, sides: dict[str, dict]) -> None:
    """Keys identify one row and predictions are present, on each side (one scan each)."""
    ident = tables.dialect.ident
    for name, types in sides.items():
        keys = ", ".join(ident(k) for k in query.keys)
        value = ident(query.prediction)
        missing = f"{value} IS NULL" + (
            f" OR {tables.dialect.is_nan(value)}" if types[query.prediction].floating else ""
        )
        found = tables.query(
            f"SELECT sum(CASE WHEN {missing} THEN 1 ELSE 0 END) AS missing, count(*) AS n, "
            f"(SELECT count(*) FROM (SELECT {keys} FROM {name} GROUP BY {keys} HAVING count(*) > 1) AS d) AS repeated "
            f"FROM {name}"
        ).iloc[0]
        if found["repeated"] > 0:
            raise LupusValidationError(
                name, f"key {query.keys} must identify one row ({int(found['repeated'])} keys repeat)"
            )
        if found["missing"] > 0:
            raise LupusValidationError(
                f"{name}.{query.prediction}", f"must not be missing ({int(found['missing'])} rows)"
            )


def _label_rows(cells: pd.DataFrame, base: dict[str, str]) -> list[PointRow]:
    """churn.rate (overall and per previous label) and the transition matrix, from (before, after, n) counts."""
    labels = np.unique(np.concatenate([cells["before"].to_numpy(), cells["after"].to_numpy()]))
    size = len(labels)
    matrix = np.zeros((size, size))
    np.add.at(matrix, (np.searchsorted(labels, cells["before"]), np.searchsorted(labels, cells["after"])), cells["n"])
    n = float(matrix.sum())
    rate = 1.0 - float(np.trace(matrix)) / n
    rows: list[PointRow] = [point("churn.rate", dict(base), rate, n=n, stderr=float(rate_stderr(rate, n)))]
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


def _float(value: object) -> float:
    return np.nan if value is None or value is pd.NA else float(value)


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
