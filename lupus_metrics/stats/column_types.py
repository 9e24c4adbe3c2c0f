"""The five column kinds a profile knows, and how each engine's types map onto them.

>>> ColumnType.of_duckdb("DOUBLE")
ColumnType(kind='numeric', floating=True)
>>> ColumnType.of_duckdb("VARCHAR[]").kind
'array'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

# ``null``: a column with no type of its own (e.g. a pandas object column holding only None);
# it takes the kind its stats need. ``other``: a type no stat applies to (maps, structs...).
Kind = Literal["numeric", "string", "boolean", "datetime", "array", "null", "other"]

_DUCKDB_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                   "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL")  # fmt: skip


@dataclass(frozen=True)
class ColumnType:
    """A column's kind; ``floating`` marks float columns, whose NaN Lupus reads as null."""

    kind: Kind
    floating: bool = False

    @classmethod
    def of_duckdb(cls, type_name: str) -> ColumnType:
        """Kind of a DuckDB type, given as its SQL text (``str(DuckDBPyType)``)."""
        name = type_name.upper().strip('"')
        if name == "NULL":
            return cls("null")
        if name.endswith("]"):
            return cls("array")
        if name.startswith(("FLOAT", "DOUBLE")):
            return cls("numeric", floating=True)
        if name.startswith(_DUCKDB_NUMERIC):
            return cls("numeric")
        if name.startswith(("VARCHAR", "ENUM")):
            return cls("string")
        if name == "BOOLEAN":
            return cls("boolean")
        if name.startswith(("DATE", "TIMESTAMP")):
            return cls("datetime")
        return cls("other")

    @classmethod
    def of_spark(cls, data_type: Any) -> ColumnType:
        """Kind of a PySpark ``DataType``."""
        from pyspark.sql import types as st

        if isinstance(data_type, st.NullType):
            return cls("null")
        if isinstance(data_type, (st.FloatType, st.DoubleType)):
            return cls("numeric", floating=True)
        if isinstance(data_type, st.NumericType):
            return cls("numeric")
        if isinstance(data_type, (st.StringType, st.VarcharType, st.CharType)):
            return cls("string")
        if isinstance(data_type, st.BooleanType):
            return cls("boolean")
        if isinstance(data_type, (st.DateType, st.TimestampType, st.TimestampNTZType)):
            return cls("datetime")
        if isinstance(data_type, st.ArrayType):
            return cls("array")
        return cls("other")
