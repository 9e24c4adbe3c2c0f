"""Counts of each distinct value of numeric Parquet columns per group, read straight from the files.

Quantiles, distinct counts and moments of a numeric column are computed from the count of each
distinct value per group (:func:`~lupus_metrics.stats.duckdb_engine.value_counts_sql`). Over a
scan of Parquet files those counts are taken here instead of by DuckDB's hash aggregate: each
row group's columns are read with pyarrow (the group-by texts as their dictionary codes) and
counted in a compiled hash table (:mod:`~lupus_metrics.stats.hashed_value_counts`), several
columns in one pass, on as many threads as DuckDB may use. About a quarter of the CPU on the
benchmark's day, with the same integer counts; DuckDB then computes the statistics from them
with the same SQL, so the definitions stay in one place.

Only float64, float32 and integer columns counted as they are (``nan_to_null`` for floats)
qualify, grouped by text columns of every file; small scans (under
:data:`~lupus_metrics.stats.parquet_files.MIN_ROWS` rows, where loading the compiled loop costs
more than it saves) and columns with more distinct values than
:data:`~lupus_metrics.stats.hashed_value_counts.MAX_TABLE_CELLS` allows are left to SQL.

Example:
    >>> import pyarrow as pa, pyarrow.parquet as pq, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "day.parquet")
    >>> pq.write_table(pa.table({"g": ["a", "a", "b"], "x": [1.5, float("nan"), 1.5]}), path)
    >>> counted = count_values(ParquetFiles((path,)), ["x"], ["g"], min_rows=0)["x"]
    >>> counted.groups, counted.values.tolist(), counted.counts.tolist()
    ([('a',), ('b',)], [1.5], [[1, 1]])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lupus_metrics.stats.hashed_value_counts import HashedValueCounts
from lupus_metrics.stats.parquet_files import ParquetFiles, buffer_values, validity_bitmap


@dataclass(frozen=True)
class ValueCounts:
    """Per distinct value (``values[j]``) and group (``groups[i]``, a tuple of texts or None): ``counts[j, i]``."""

    groups: list[tuple[str | None, ...]]
    values: np.ndarray  # the column's own dtype
    counts: np.ndarray  # values x groups, int64


def count_values(
    files: ParquetFiles,
    columns: Sequence[str],
    group_by: Sequence[str],
    *,
    threads: int = 1,
    min_rows: int | None = None,
) -> dict[str, ValueCounts] | None:
    """The counts of each distinct non-null value of every column of ``columns`` per group; None if any column does
    not qualify (see the module) or under ``min_rows`` rows (default
    :data:`~lupus_metrics.stats.parquet_files.MIN_ROWS`). Floats' NaN count as null and ``-0.0`` as ``0.0``, as in
    SQL. :func:`~lupus_metrics.stats.parquet_counts.count_columns` counts text columns in the same pass."""
    from lupus_metrics.stats.parquet_counts import count_columns

    counted = count_columns(files, group_by, numbers=columns, threads=threads, min_rows=min_rows)
    if counted is None or set(counted.numbers) != set(columns):
        return None
    return counted.numbers


def number_dtype(schema: Any, column: str) -> np.dtype | None:
    """The numpy dtype of a float64, float32 or integer column, else None."""
    import pyarrow as pa

    kind = schema.field(column).type
    if not (pa.types.is_integer(kind) or pa.types.is_float64(kind) or pa.types.is_float32(kind)):
        return None
    return np.dtype(kind.to_pandas_dtype())


def add_numbers(table: HashedValueCounts, column: Any, rows: np.ndarray) -> bool:
    """Count one row group's column: its values' buffer as it is for 64-bit types, nulls from its validity bitmap."""
    import pyarrow as pa

    array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    floating = pa.types.is_floating(array.type)
    if array.type.bit_width == 64:
        bits = buffer_values(array, np.uint64)
    else:  # widened to 64 bits: a copy, whose nulls the bitmap still marks
        wide = np.float64 if floating else np.int64
        bits = buffer_values(array, array.type.to_pandas_dtype()).astype(wide).view(np.uint64)
    bitmap, offset = validity_bitmap(array)
    return table.add(bits, rows, validity=bitmap, offset=offset, floating=floating)


def added_value_counts(
    parts: list[tuple[list[tuple[str | None, ...]], np.ndarray, np.ndarray]], dtype: np.dtype
) -> ValueCounts:
    """The sum of several workers' counts of one column (each with its own order of groups and keys)."""
    groups = list(dict.fromkeys(g for part_groups, _, _ in parts for g in part_groups))
    group_index = {g: i for i, g in enumerate(groups)}
    keys, inverse = np.unique(np.concatenate([k for _, k, _ in parts]), return_inverse=True)
    counts = np.zeros((len(keys), len(groups)), dtype=np.int64)
    offset = 0
    for part_groups, part_keys, part_counts in parts:
        rows = inverse[offset : offset + len(part_keys)]
        offset += len(part_keys)
        counts[np.ix_(rows, [group_index[g] for g in part_groups])] += part_counts
    return ValueCounts(groups, _values(keys, dtype), counts)


def _values(keys: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The keys as values of the column's dtype again."""
    if dtype.kind == "f":
        return keys.view(np.float64).astype(dtype)
    return keys.view(np.int64).astype(dtype)
