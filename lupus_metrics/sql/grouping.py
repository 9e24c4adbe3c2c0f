"""Per-group SQL shared by the evaluation, drift and churn queries: one row per group and one overall.

Every family computes its aggregates for the overall group (no labels) and for each group-by
group with ``GROUPING SETS``. :class:`GroupedQuery` writes those queries over a projection of
the input; :class:`GroupKeys` reads the groups back from a result (columns ``gid, g0, g1...``)
as labels, overall first, then the groups in the order of their labels.

Example:
    >>> from lupus_metrics.sql.tables import Dialect
    >>> q = GroupedQuery(Dialect("duckdb"), ["region"])
    >>> q.aggregate("count(*) AS n", q.source("x AS v"))
    'SELECT GROUPING("g0") AS gid, "g0", count(*) AS n FROM (SELECT "region" AS "g0", x AS v FROM data) AS rows_ GROUP BY GROUPING SETS (("g0"), ())'
    >>> keys = GroupKeys(pd.DataFrame({"gid": [1, 0], "g0": [None, "JP"]}), ["region"])
    >>> [keys.labels(k) for k in keys.keys]
    [{}, {'region': 'JP'}]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.sql.tables import Dialect


class GroupedQuery:
    """Aggregates per group and overall, over a projection of the input ``table``."""

    def __init__(self, dialect: Dialect, group_by: Sequence[str], table: str = "data"):
        self.dialect = dialect
        self.group_by = list(group_by)
        self.table = table
        self.aliases = [f"g{i}" for i in range(len(self.group_by))]
        #: The group-key columns, quoted.
        self.aliases_sql = [dialect.ident(a) for a in self.aliases]
        #: The group-key columns, quoted and comma-separated ("" without group-by).
        self.keys = ", ".join(self.aliases_sql)

    def source(self, *expressions: str, where: str = "", table: str | None = None) -> str:
        """The input's group columns (as ``g0, g1...``) and ``expressions``, as a subquery."""
        ident = self.dialect.ident
        projection = [f"{ident(c)} AS {ident(a)}" for c, a in zip(self.group_by, self.aliases, strict=True)]
        projection += list(expressions)
        condition = f" WHERE {where}" if where else ""
        return f"(SELECT {', '.join(projection) or '1 AS one'} FROM {table or self.table}{condition}) AS rows_"

    def aggregate(self, select: str, source: str, *, by: Sequence[str] = ()) -> str:
        """``select`` per group and overall; ``by`` adds keys to both sets (e.g. a label, a value)."""
        extra = ", ".join(by)
        if not self.keys:
            group_by = f" GROUP BY {extra}" if extra else ""
            return f"SELECT 1 AS gid, {extra + ', ' if extra else ''}{select} FROM {source}{group_by}"
        inner = f"{self.keys}, {extra}" if extra else self.keys
        outer = f"({extra})" if extra else "()"
        return (
            # 0 where the group keys are grouped on (a group), 1 in the overall set. Both sets group the
            # ``by`` keys, so the first group key alone tells them apart (Spark's grouping_id would need all).
            f"SELECT GROUPING({self.dialect.ident(self.aliases[0])}) AS gid, {inner}, {select} FROM {source} "
            f"GROUP BY GROUPING SETS (({inner}), {outer})"
        )

    @property
    def partition(self) -> str:
        """A window's ``PARTITION BY`` over one group (of a grouping-sets result)."""
        return f"PARTITION BY gid{', ' + self.keys if self.keys else ''}"

    @property
    def key_list(self) -> str:
        """``gid`` and the group keys, for a GROUP BY or a SELECT over a grouping-sets result."""
        return f"gid{', ' + self.keys if self.keys else ''}"


class GroupKeys:
    """The groups of a result: ``keys`` (overall first), each a tuple ``(gid, g0, g1...)``."""

    def __init__(self, result: pd.DataFrame, columns: Sequence[str]):
        self.columns = list(columns)
        self.key_columns = ["gid", *[f"g{i}" for i in range(len(self.columns))]]
        found = {key_of(k) for k in result[self.key_columns].itertuples(index=False, name=None)}
        for key in found:
            if key[0] == 0 and None in key[1:]:
                raise LupusValidationError(self.columns[key[1:].index(None)], "group values must not be missing")
        overall = [k for k in found if k[0] != 0]
        groups = sorted((k for k in found if k[0] == 0), key=lambda k: [label_value(v) for v in k[1:]])
        self.keys: list[tuple] = overall[:1] + groups

    def key(self, row: object) -> tuple:
        """The group key of a result row (from ``itertuples``)."""
        return key_of(tuple(getattr(row, c) for c in self.key_columns))

    def labels(self, key: tuple) -> dict[str, str]:
        """The group's labels: none for the overall group, one per group-by column otherwise."""
        if key[0] != 0:
            return {}
        return {c: label_value(v) for c, v in zip(self.columns, key[1:], strict=True)}


def key_of(values: object) -> tuple:
    """A group key with nulls (None, NaN, pd.NA) as None and the overall gid as 1.

    >>> key_of((3, float("nan")))
    (1, None)
    """
    values = values if isinstance(values, tuple) else (values,)
    out = [None if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else v for v in values]
    out[0] = 0 if out[0] == 0 else 1
    return tuple(out)


def label_value(value: object) -> str:
    """A label value as text: integers without a trailing ``.0``, everything else through ``str``.

    >>> label_value(np.int64(3)), label_value(3.0), label_value("JP")
    ('3', '3', 'JP')
    """
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)
