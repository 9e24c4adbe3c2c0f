"""Counts of a Parquet list column's elements per group, from the files' dictionary codes.

A top-k over a list column (``tags: ["topk:5"]``) counts every element of every row per group.
In SQL that is an ``unnest`` and a hash aggregate on (group text, element text): on a day of
10M rows with 5 tags each, ~2.5 CPU-seconds of the ~4 the whole profile costs. Parquet writers
store such columns dictionary-encoded, and pyarrow can hand back those codes instead of the
strings, so the count becomes a ``bincount`` of small integers: about a third of the CPU, with
the same integer counts. No library counts dictionary codes per group, hence this module.

It applies when the input is exactly a scan of Parquet files (:class:`ParquetFiles`, as
``DaySources`` reads a day), the list holds strings and every group-by column is a string
column of every file. Anything else (Hive partition columns, other element types, a file
without the column, more distinct values than :data:`MAX_CELLS` allows) returns ``None`` and
the caller keeps the SQL path. Row groups are read one at a time, so memory stays bounded by a
row group and the groups x values count matrix.

Example:
    >>> import pyarrow as pa, pyarrow.parquet as pq, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "day.parquet")
    >>> pq.write_table(pa.table({"g": ["a", "a", "b"], "tags": [["x", "y"], ["x"], None]}), path)
    >>> counts = count_list_elements(ParquetFiles((path,)), "tags", ("g",))
    >>> counts.groups, counts.values, counts.counts.tolist(), counts.non_null.tolist()
    ([('a',), ('b',)], ['x', 'y'], [[2, 1], [0, 0]], [2, 0])
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Largest groups x distinct values matrix counted here (int64 cells, 8 MB); larger goes to SQL, which spills.
MAX_CELLS = 1_000_000
#: Largest dictionary of one chunk mapped here (its texts are looked up one by one in Python).
MAX_DICTIONARY = 65_536


@dataclass(frozen=True)
class ParquetFiles:
    """The Parquet files a DuckDB relation scans as they are (no filter, rename or projection).

    ``filesystem`` is the fsspec filesystem of ``s3://`` paths (None for local files);
    ``partition_columns`` the Hive columns the relation takes from the paths (never counted here).
    """

    paths: tuple[str, ...]
    filesystem: Any = None
    partition_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class ListCounts:
    """Per group (``groups[i]``, a tuple of texts or None), the count of each element value and of non-null lists."""

    groups: list[tuple[str | None, ...]]
    values: list[str]
    counts: np.ndarray  # groups x values, int64
    non_null: np.ndarray  # per group: rows whose list is not null


class _Codes:
    """Distinct texts seen so far and their global codes; maps each chunk's dictionary onto them."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self._index: dict[str, int] = {}

    def lookup(self, dictionary: Any) -> np.ndarray | None:
        """Global code of each entry of an Arrow string dictionary (new texts get new codes); None if too large."""
        if len(dictionary) > MAX_DICTIONARY:
            return None
        out = np.empty(len(dictionary), dtype=np.int64)
        for i, text in enumerate(dictionary.to_pylist()):
            code = self._index.get(text)
            if code is None:
                code = self._index[text] = len(self.texts)
                self.texts.append(text)
            out[i] = code
        return out


def count_list_elements(
    files: ParquetFiles, column: str, group_by: Sequence[str], *, threads: int = 1
) -> ListCounts | None:
    """Element counts of list column ``column`` per group of ``group_by`` over ``files``; None if not applicable.

    ``threads`` workers count disjoint runs of row groups (pyarrow and numpy release the GIL for
    nearly all of it, so two threads take half the time) and their counts are added up.
    """
    if {column, *group_by} & set(files.partition_columns):
        return None
    units = _row_groups(files, column, group_by)
    if units is None:
        return None
    parts = np.array_split(np.arange(len(units)), max(1, min(threads, len(units))))
    runs = [[units[i] for i in part] for part in parts]
    if len(runs) == 1:
        results = [_count(files, runs[0], column, group_by)]
    else:
        with ThreadPoolExecutor(max_workers=len(runs), thread_name_prefix="lupus-list-counts") as pool:
            results = list(pool.map(lambda run: _count(files, run, column, group_by), runs))
    if any(r is None for r in results):
        return None
    return _added([r for r in results if r is not None])


def _row_groups(files: ParquetFiles, column: str, group_by: Sequence[str]) -> list[tuple[str, int, Any, str]] | None:
    """Every (file, row group, the file's footer, the list's leaf path) to count, or None when a file does not qualify."""
    units = []
    for path in files.paths:
        with _opened(path, files.filesystem) as source:
            qualified = _qualified_footer(source, column, group_by)
        if qualified is None:
            return None
        footer, leaf = qualified
        units.extend((path, index, footer, leaf) for index in range(footer.num_row_groups))
    return units


def _count(
    files: ParquetFiles, units: list[tuple[str, int, Any, str]], column: str, group_by: Sequence[str]
) -> ListCounts | None:
    """The counts of one worker's row groups (each file opened once, by this worker only)."""
    import pyarrow.parquet as pq

    group_codes = [_Codes() for _ in group_by]
    value_codes = _Codes()
    group_ids: dict[tuple[int, ...], int] = {}
    counts = np.zeros((0, 0), dtype=np.int64)
    non_null = np.zeros(0, dtype=np.int64)
    with ExitStack() as stack:
        current, reader = None, None
        for path, index, footer, leaf in units:
            if path != current:
                stack.close()
                source = stack.enter_context(_opened(path, files.filesystem))
                reader = pq.ParquetFile(source, metadata=footer, read_dictionary=[leaf, *group_by])
                current = path
            table = reader.read_row_group(index, columns=[column, *group_by], use_threads=False)
            rows = _group_rows(table, group_by, group_codes, group_ids)
            if rows is None:
                return None
            non_null = np.pad(non_null, (0, len(group_ids) - len(non_null)))
            offset = 0
            for chunk in table.column(column).chunks:
                chunk_rows = rows[offset : offset + len(chunk)]
                offset += len(chunk)
                valid_rows = chunk_rows if chunk.null_count == 0 else chunk_rows[_valid(chunk)]
                non_null += np.bincount(valid_rows, minlength=len(non_null))
                elements = chunk.flatten()  # the elements of non-null lists, slicing offsets applied
                known = value_codes.lookup(elements.dictionary)
                counts = _grown(counts, len(group_ids), len(value_codes.texts))
                if known is None or counts.size > MAX_CELLS or len(group_ids) * len(known) > MAX_CELLS:
                    return None
                # add.at: a dictionary may repeat a text (pages of several dictionaries); fancy += would drop one.
                np.add.at(counts.T, known, _local_counts(chunk_rows, chunk, elements, len(group_ids), len(known)).T)
    groups = [tuple(None if c < 0 else group_codes[j].texts[c] for j, c in enumerate(key)) for key in group_ids]
    return ListCounts(groups, value_codes.texts, _grown(counts, len(groups), len(value_codes.texts)), non_null)


def _added(parts: list[ListCounts]) -> ListCounts:
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


@contextmanager
def _opened(path: str, filesystem: Any) -> Iterator[Any]:
    """The file to read: its path for pyarrow on local disk, an open fsspec file (closed after) on S3."""
    if filesystem is None:
        yield path
        return
    with filesystem.open(path, "rb") as handle:
        yield handle


def _qualified_footer(source: Any, column: str, group_by: Sequence[str]) -> tuple[Any, str] | None:
    """The file's footer and the list's leaf path if ``column`` is a list of texts with one leaf and every group
    column is text, else None."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    footer = pq.ParquetFile(source).metadata
    schema = footer.schema.to_arrow_schema()
    if column not in schema.names or any(g not in schema.names for g in group_by):
        return None  # e.g. a Hive partition column, or a file of a union by name without the column
    kind = schema.field(column).type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind)) or not _is_text(kind.value_type):
        return None
    if any(not _is_text(schema.field(g).type) for g in group_by):
        return None
    leaves = [c.path for c in footer.schema if c.path.split(".")[0] == column]
    return (footer, leaves[0]) if len(leaves) == 1 else None


def _is_text(arrow_type: Any) -> bool:
    import pyarrow as pa

    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)


def _group_rows(
    table: Any, group_by: Sequence[str], codes: list[_Codes], ids: dict[tuple[int, ...], int]
) -> np.ndarray | None:
    """Each row's group id (ids grow as new combinations of group values appear); None past the limits."""
    if not group_by:
        ids.setdefault((), 0)
        return np.zeros(table.num_rows, dtype=np.int64)
    columns = []
    for name, known in zip(group_by, codes, strict=True):
        parts = []
        for chunk in table.column(name).chunks:
            lookup = known.lookup(chunk.dictionary)
            if lookup is None:
                return None
            values = lookup[chunk.indices.fill_null(0).to_numpy()]
            values[~_valid(chunk)] = -1  # a null group value
            parts.append(values)
        columns.append(np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64))
    # Each row's tuple of codes as one integer (null = 0), then the distinct ones mapped to group ids.
    sizes = [len(c.texts) + 1 for c in codes]
    space = float(np.prod(sizes, dtype=np.float64))
    if space > MAX_CELLS:
        return None
    combined = np.zeros(table.num_rows, dtype=np.int64)
    for values, size in zip(columns, sizes, strict=True):
        combined = combined * size + (values + 1)
    lookup_table = np.full(int(space), -1, dtype=np.int64)
    for code in np.flatnonzero(np.bincount(combined, minlength=int(space))).tolist():
        key, rest = [], code
        for size in reversed(sizes):
            key.append(rest % size - 1)
            rest //= size
        lookup_table[code] = ids.setdefault(tuple(reversed(key)), len(ids))
    return lookup_table[combined]


def _local_counts(rows: np.ndarray, chunk: Any, elements: Any, groups: int, width: int) -> np.ndarray:
    """groups x width counts of the chunk's elements by group and local dictionary code (nulls left out).

    Counting local codes and mapping the few dictionary columns afterwards saves a gather over
    every element.
    """
    indices = elements.indices
    element_codes = np.repeat(rows * width, _lengths(chunk)) + indices.fill_null(0).to_numpy()
    if indices.null_count:
        element_codes = element_codes[_valid(indices)]
    return np.bincount(element_codes, minlength=groups * width).reshape(groups, width)


def _valid(array: Any) -> np.ndarray:
    return array.is_valid().to_numpy(zero_copy_only=False)


def _lengths(chunk: Any) -> np.ndarray:
    import pyarrow.compute as pc

    return pc.list_value_length(chunk).fill_null(0).to_numpy()


def _grown(counts: np.ndarray, groups: int, values: int) -> np.ndarray:
    """``counts`` padded with zeros to groups x values."""
    if counts.shape == (groups, values):
        return counts
    return np.pad(counts, ((0, groups - counts.shape[0]), (0, values - counts.shape[1])))
