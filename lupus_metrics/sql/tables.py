"""Where evaluation, drift and churn run: SQL over named inputs, on DuckDB or Spark.

The metric code builds SQL over input names (``data``, ``reference``, ``current``...) and a
:class:`Tables` runs it where the data is:

- pandas DataFrames and Arrow tables are registered on a private in-memory DuckDB connection
  (a zero-copy scan);
- DuckDB relations (``duckdb.DuckDBPyRelation``, e.g. Parquet files read lazily by
  :mod:`lupus_dagster.assets.sources`) are queried on their own connection: nothing is
  materialized in Python; DuckDB streams, aggregates and spills within its memory limit;
- PySpark DataFrames are queried with Spark SQL (temporary views).

All inputs of one computation must be of one kind (relations of one connection, or frames, or
Spark DataFrames). Queries return small results (aggregates) as pandas frames. The SQL is
written once; :class:`Dialect` holds the few spellings the two engines differ on.

Example:
    >>> import pandas as pd
    >>> with open_tables(data=pd.DataFrame({"x": [1.0, 2.0, None]})) as tables:
    ...     tables.query("SELECT count(x) AS n, sum(x) AS total FROM data").to_dict("records")
    [{'n': 2, 'total': 3.0}]
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from lupus_metrics.errors import LupusValidationError

if TYPE_CHECKING:
    from lupus_metrics.stats.column_types import ColumnType


@dataclass(frozen=True)
class Dialect:
    """What DuckDB and Spark SQL spell differently; everything else is written once."""

    name: str  # "duckdb" or "spark"

    def ident(self, name: str) -> str:
        """A quoted identifier.

        >>> Dialect("duckdb").ident('a"b'), Dialect("spark").ident("a`b")
        ('"a""b"', '`a``b`')
        """
        if self.name == "spark":
            return "`" + name.replace("`", "``") + "`"
        return '"' + name.replace('"', '""') + '"'

    def bucket(self, expression: str, buckets: int) -> str:
        """A bucket number in [0, buckets) from a hash of ``expression`` (rows of one key share a bucket)."""
        if self.name == "spark":
            return f"pmod(hash({expression}), {int(buckets)})"
        return f"hash({expression}) % {int(buckets)}"

    def input_cte(self, name: str, body: str) -> str:
        # DuckDB would materialize an input referenced twice; an input is read where it is used.
        materialized = " NOT MATERIALIZED" if self.name == "duckdb" else ""
        return f"{self.ident(name)} AS{materialized} ({body})"

    def is_nan(self, expression: str) -> str:
        """True for a float NaN (false for null), in both engines."""
        return f"isnan({expression})"

    def not_finite(self, expression: str) -> str:
        """True for a missing, NaN or infinite number."""
        return f"({expression} IS NULL OR isnan({expression}) OR abs({expression}) = CAST('Infinity' AS DOUBLE))"

    def is_infinite(self, expression: str) -> str:
        return f"abs({expression}) = CAST('Infinity' AS DOUBLE)"

    @property
    def string_type(self) -> str:
        """The text type's name."""
        return "STRING" if self.name == "spark" else "VARCHAR"

    def literal(self, value: object) -> str:
        """A label or number as a literal (Spark escapes quotes with a backslash, DuckDB by doubling them).

        >>> print(Dialect("duckdb").literal("it's"), Dialect("spark").literal("it's"))
        'it''s' 'it\\'s'
        """
        if self.name == "spark" and isinstance(value, str):
            return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return literal(value)


def float_literal(value: float) -> str:
    """A float as a DOUBLE literal in both engines (an exponent: ``0.1`` alone would be a DECIMAL).

    Arithmetic with a DECIMAL is exact, so (n − 1)·q would not round as numpy rounds it.

    >>> float_literal(0.1), float_literal(2.0)
    ('1.00000000000000006e-01', '2.00000000000000000e+00')
    """
    return format(float(value), ".17e")


def literal(value: object) -> str:
    """A SQL literal for a label or number (strings quoted, numbers as written).

    >>> literal("it's"), literal(3), literal(2.5), literal(True)
    ("'it''s'", '3', '2.50000000000000000e+00', 'TRUE')
    """
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if hasattr(value, "item"):  # numpy scalars
        return literal(value.item())
    if isinstance(value, float):
        return float_literal(value)
    if isinstance(value, int):
        return repr(value)
    raise LupusValidationError("value", "labels must be strings or numbers", value=value)


class Tables:
    """Named inputs and the engine that runs SQL over them; use :func:`open_tables`."""

    dialect: Dialect

    def query(self, sql: str) -> pd.DataFrame:
        """Run ``sql`` (which names the inputs) and return its (small) result."""
        raise NotImplementedError

    def column_types(self, name: str) -> dict[str, ColumnType]:
        """Column -> kind of the input ``name``."""
        raise NotImplementedError

    def type_names(self, name: str) -> dict[str, str]:
        """Column -> the engine's own type name (``BIGINT``, ``bigint``...) of the input ``name``."""
        raise NotImplementedError

    def fetch(self, name: str, columns: list[str], where: str = "") -> pd.DataFrame:
        """Rows of the input ``name`` (the ``columns``, the rows matching ``where``) as a pandas frame.

        For bounded memory, ``where`` selects a chunk (e.g. a hash bucket of the users).
        """
        selected = ", ".join(self.dialect.ident(c) for c in columns)
        return self.query(f"SELECT {selected} FROM {name}" + (f" WHERE {where}" if where else ""))

    def count(self, name: str) -> int:
        """Rows of the input ``name``."""
        return int(self.query(f"SELECT count(*) AS n FROM {name}")["n"].iloc[0])

    @property
    def in_memory(self) -> bool:
        """True when the inputs are already pandas/Arrow frames: chunking them saves nothing."""
        return False

    def close(self) -> None:
        return None

    def __enter__(self) -> Tables:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def require(self, name: str, where: str, columns: list[str]) -> dict[str, ColumnType]:
        """The input's column kinds, after checking it has ``columns`` (the error names ``where``)."""
        types = self.column_types(name)
        missing = [c for c in columns if c not in types]
        if missing:
            raise LupusValidationError(
                where, f"required column {missing[0]!r} is missing (required: {', '.join(columns)})", value=list(types)
            )
        return types


_DATABASE: list[Any] = []


def in_memory_cursor() -> Any:
    """A new connection to the process's in-memory DuckDB database (registrations stay private to it).

    Opening a database costs tens of milliseconds; a cursor on a shared one costs almost nothing,
    which matters for the many small evaluations of a test suite or an API process.
    """
    import duckdb

    if not _DATABASE:
        database = duckdb.connect()
        database.execute("SET TimeZone = 'UTC'")
        _DATABASE.append(database)
    return _DATABASE[0].cursor()


class _DuckDBFrames(Tables):
    """pandas DataFrames / Arrow tables on a private connection to an in-memory database."""

    def __init__(self, inputs: Mapping[str, Any]):
        self.dialect = Dialect("duckdb")
        self._con = in_memory_cursor()
        self._inputs = dict(inputs)
        for name, data in inputs.items():
            self._con.register(name, data)

    def query(self, sql: str) -> pd.DataFrame:
        return self._con.execute(sql).df()

    def column_types(self, name: str) -> dict[str, ColumnType]:
        from lupus_metrics.stats.column_types import ColumnType  # the stats package builds on this module

        return {c: ColumnType.of_duckdb(t) for c, t in self.type_names(name).items()}

    def type_names(self, name: str) -> dict[str, str]:
        relation = self._con.table(name)
        return {c: str(t) for c, t in zip(relation.columns, relation.types, strict=True)}

    def fetch(self, name: str, columns: list[str], where: str = "") -> pd.DataFrame:
        data = self._inputs[name]
        if not where and isinstance(data, pd.DataFrame):
            return data  # already in memory: no copy
        return super().fetch(name, columns, where)

    @property
    def in_memory(self) -> bool:
        return True

    def close(self) -> None:
        self._con.close()


class _DuckDBRelations(Tables):
    """DuckDB relations of one connection, queried where they live (their SQL text as CTEs)."""

    def __init__(self, inputs: Mapping[str, Any]):
        self.dialect = Dialect("duckdb")
        self._inputs = dict(inputs)
        self._anchor = next(iter(self._inputs.values()))

    def query(self, sql: str) -> pd.DataFrame:
        import duckdb

        ctes = ", ".join(self.dialect.input_cte(name, rel.sql_query()) for name, rel in self._inputs.items())
        body = sql.strip()
        # The query's own CTEs follow the inputs' in one WITH list.
        full = (
            f"WITH {ctes}, {body[len('WITH') :].lstrip()}"
            if body.upper().startswith("WITH ")
            else f"WITH {ctes} {body}"
        )
        try:
            result = self._anchor.query(f"lupus_{uuid.uuid4().hex[:8]}", full)
        except duckdb.CatalogException as err:
            raise LupusValidationError(
                "inputs", f"the inputs must be DuckDB relations of one connection ({err})", value=list(self._inputs)
            ) from None
        return result.df()

    def column_types(self, name: str) -> dict[str, ColumnType]:
        from lupus_metrics.stats.column_types import ColumnType  # the stats package builds on this module

        return {c: ColumnType.of_duckdb(t) for c, t in self.type_names(name).items()}

    def type_names(self, name: str) -> dict[str, str]:
        relation = self._inputs[name]
        return {c: str(t) for c, t in zip(relation.columns, relation.types, strict=True)}


class _SparkFrames(Tables):
    """PySpark DataFrames, queried with Spark SQL through temporary views."""

    def __init__(self, inputs: Mapping[str, Any]):
        self.dialect = Dialect("spark")
        self._inputs = dict(inputs)
        first = next(iter(self._inputs.values()))
        self._spark = first.sparkSession
        self._views = {name: f"lupus_{name}_{uuid.uuid4().hex[:8]}" for name in self._inputs}
        for name, frame in self._inputs.items():
            frame.createOrReplaceTempView(self._views[name])

    def query(self, sql: str) -> pd.DataFrame:
        ctes = ", ".join(self.dialect.input_cte(name, f"SELECT * FROM {view}") for name, view in self._views.items())
        body = sql.strip()
        full = (
            f"WITH {ctes}, {body[len('WITH') :].lstrip()}"
            if body.upper().startswith("WITH ")
            else f"WITH {ctes} {body}"
        )
        return self._spark.sql(full).toPandas()

    def column_types(self, name: str) -> dict[str, ColumnType]:
        from lupus_metrics.stats.column_types import ColumnType  # the stats package builds on this module

        return {f.name: ColumnType.of_spark(f.dataType) for f in self._inputs[name].schema.fields}

    def type_names(self, name: str) -> dict[str, str]:
        return {f.name: f.dataType.simpleString() for f in self._inputs[name].schema.fields}

    def close(self) -> None:
        for view in self._views.values():
            self._spark.catalog.dropTempView(view)


def input_kind(data: Any) -> str:
    """``frame`` (pandas, Arrow), ``relation`` (DuckDB) or ``spark``; anything else is a validation error."""
    import pyarrow as pa

    if isinstance(data, (pd.DataFrame, pa.Table)):
        return "frame"
    module = type(data).__module__
    if module.startswith("duckdb") and type(data).__name__ == "DuckDBPyRelation":
        return "relation"
    if module.startswith("pyspark.sql") and type(data).__name__ == "DataFrame":
        return "spark"
    raise LupusValidationError(
        "data", "must be a pandas DataFrame, a pyarrow Table, a DuckDB relation or a PySpark DataFrame",
        value=type(data).__name__,
    )  # fmt: skip


def open_tables(**inputs: Any) -> Tables:
    """The :class:`Tables` for these named inputs, all of one kind (see the module docstring)."""
    kinds = {name: input_kind(data) for name, data in inputs.items()}
    if len(set(kinds.values())) > 1:
        raise LupusValidationError(
            "inputs", "must all be of one kind (pandas/Arrow, DuckDB relations or Spark)", value=kinds
        )
    kind = next(iter(kinds.values()))
    if kind == "frame":
        return _DuckDBFrames(inputs)
    if kind == "relation":
        return _DuckDBRelations(inputs)
    return _SparkFrames(inputs)
