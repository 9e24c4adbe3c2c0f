"""Counts of a Parquet text column's values, or a list column's elements, per group, from the files' dictionary codes.

A top-k over a list column (``tags: ["topk:5"]``) counts every element of every row per group.
In SQL that is an ``unnest`` and a hash aggregate on (group text, element text): on a day of
10M rows with 5 tags each, ~2.5 CPU-seconds of the ~4 the whole profile costs. Parquet writers
store text columns dictionary-encoded, and pyarrow can hand back those codes instead of the
strings, so the count becomes an increment per element in a small groups x codes matrix
(:func:`~lupus_metrics.stats.count_loops.count_codes`): about a fifth of the CPU, with the same
integer counts. A text column is counted the same way, as a list of one element a row.

:class:`TextTally` is one worker's count of one column;
:func:`~lupus_metrics.stats.parquet_counts.count_columns` reads the row groups (once for all
columns) and says when the files qualify: text or list-of-text columns, text group columns, no
Hive partition column, at most :data:`~lupus_metrics.stats.parquet_files.MAX_DICTIONARY` texts
in a chunk's dictionary and :data:`~lupus_metrics.stats.parquet_files.MAX_CELLS` cells; anything
else is left to SQL. Memory stays bounded by a row group and the groups x values count matrix.

Example:
    >>> import pyarrow as pa, pyarrow.parquet as pq, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "day.parquet")
    >>> pq.write_table(pa.table({"g": ["a", "a", "b"], "tags": [["x", "y"], ["x"], None]}), path)
    >>> counts = count_list_elements(ParquetFiles((path,)), "tags", ("g",), min_rows=0)
    >>> counts.groups, counts.values, counts.counts.tolist(), counts.non_null.tolist()
    ([('a',), ('b',)], ['x', 'y'], [[2, 1], [0, 0]], [2, 0])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lupus_metrics.stats.parquet_files import (
    MAX_CELLS,
    ParquetFiles,
    TextCodes,
    buffer_values,
    is_text,
    validity_bitmap,
)

__all__ = ["ListCounts", "ParquetFiles", "count_list_elements"]


@dataclass(frozen=True)
class ListCounts:
    """Per group (``groups[i]``, a tuple of texts or None), the count of each element value and of non-null lists."""

    groups: list[tuple[str | None, ...]]
    values: list[str]
    counts: np.ndarray  # groups x values, int64
    non_null: np.ndarray  # per group: rows whose list is not null


def count_list_elements(
    files: ParquetFiles, column: str, group_by: Sequence[str], *, threads: int = 1, min_rows: int | None = None
) -> ListCounts | None:
    """Element counts of list column ``column`` (or values of text column ``column``, a list of one) per group of
    ``group_by`` over ``files``; None if not applicable (see the module), or under ``min_rows`` rows (default
    :data:`~lupus_metrics.stats.parquet_files.MIN_ROWS`). :func:`~lupus_metrics.stats.parquet_counts.count_columns`
    counts several columns in one pass."""
    from lupus_metrics.stats.parquet_counts import count_columns

    counted = count_columns(files, group_by, texts=[column], threads=threads, min_rows=min_rows)
    return None if counted is None else counted.texts.get(column)


def text_leaf(schema: Any, footer: Any, column: str) -> tuple[str, bool] | None:
    """The path of ``column``'s texts in the file and whether it is a list, if it is a text column or a list of
    texts with one leaf; else None."""
    import pyarrow as pa

    kind = schema.field(column).type
    if is_text(kind):
        return column, False
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind)) or not is_text(kind.value_type):
        return None
    leaves = [c.path for c in footer.schema if c.path.split(".")[0] == column]
    return (leaves[0], True) if len(leaves) == 1 else None


class TextTally:
    """One worker's counts of one text or list column: per group, each text's count and the non-null rows."""

    def __init__(self, is_list: bool):
        self._is_list = is_list
        self._codes = TextCodes()
        self._counts = np.zeros((0, 0), dtype=np.int64)
        self._non_null = np.zeros(0, dtype=np.int64)

    def add(self, column: Any, rows: np.ndarray, groups: int) -> bool:
        """Count a row group's column (a ChunkedArray of dictionaries, or of lists of them); False past the limits."""
        self._non_null = np.pad(self._non_null, (0, groups - len(self._non_null)))
        offset = 0
        for chunk in column.chunks:
            chunk_rows = rows[offset : offset + len(chunk)]
            offset += len(chunk)
            codes = chunk.values if self._is_list else chunk  # the DictionaryArray of the elements
            known = self._codes.lookup(codes.dictionary)
            self._counts = _grown(self._counts, groups, len(self._codes.texts))
            if known is None or self._counts.size > MAX_CELLS or groups * len(known) > MAX_CELLS:
                return False
            local, non_null = _local_counts(chunk_rows, chunk, self._is_list, groups, len(known))
            self._non_null += non_null
            # add.at: a dictionary may repeat a text (pages of several dictionaries); fancy += would drop one.
            np.add.at(self._counts.T, known, local.T)
        return True

    def result(self, groups: list[tuple[str | None, ...]]) -> ListCounts:
        non_null = np.pad(self._non_null, (0, len(groups) - len(self._non_null)))
        return ListCounts(
            groups, self._codes.texts, _grown(self._counts, len(groups), len(self._codes.texts)), non_null
        )


def added_text_counts(parts: list[ListCounts]) -> ListCounts:
    """The sum of several workers' counts (each with its own order of groups and values)."""
    groups = list(dict.fromkeys(g for part in parts for g in part.groups))
    values = list(dict.fromkeys(v for part in parts for v in part.values))
    group_index = {g: i for i, g in enumerate(groups)}
    value_index = {v: i for i, v in enumerate(values)}
    counts = np.zeros((len(groups), len(values)), dtype=np.int64)
    non_null = np.zeros(len(groups), dtype=np.int64)
    for part in parts:
        rows = np.asarray([group_index[g] for g in part.groups], dtype=np.int64)
        columns = np.asarray([value_index[v] for v in part.values], dtype=np.int64)
        counts[np.ix_(rows, columns)] += part.counts
        non_null[rows] += part.non_null
    return ListCounts(groups, values, counts, non_null)


def _local_counts(
    rows: np.ndarray, chunk: Any, is_list: bool, groups: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """groups x width counts of the chunk's elements by group and local dictionary code (nulls left out), and per
    group the rows whose value is not null.

    Counting local codes and mapping the few dictionary columns afterwards saves a gather over
    every element.
    """
    from lupus_metrics.stats.count_loops import count_codes

    codes = chunk.values.indices if is_list else chunk.indices
    # A list's offsets index its unsliced values; a text column is a list of one element a row.
    offsets = chunk.offsets.to_numpy() if is_list else np.arange(len(chunk) + 1, dtype=np.int64)
    lists_valid, lists_offset = validity_bitmap(chunk)
    codes_valid, codes_offset = validity_bitmap(codes)
    counts = np.zeros(groups * width, dtype=np.int64)
    non_null = np.zeros(groups, dtype=np.int64)
    count_codes(offsets, lists_valid, lists_offset, buffer_values(codes, codes.type.to_pandas_dtype()),
                codes_valid, codes_offset, rows, width, counts, non_null)  # fmt: skip
    return counts.reshape(groups, width), non_null


def _grown(counts: np.ndarray, groups: int, values: int) -> np.ndarray:
    """``counts`` padded with zeros to groups x values."""
    if counts.shape == (groups, values):
        return counts
    return np.pad(counts, ((0, groups - counts.shape[0]), (0, values - counts.shape[1])))
