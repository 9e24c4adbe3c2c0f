"""Reading a day's Parquet files a row group at a time, for the counts that skip SQL.

A DuckDB relation over Parquet files hands every value to SQL as it is; a few statistics are
much cheaper from the files themselves (texts as their dictionary codes, numbers hashed in a
compiled loop). This module holds what those counts share: :class:`ParquetFiles` (the files a
relation scans as-is), each file's footer read once, text dictionaries mapped onto global codes
(:class:`TextCodes`) and each row's group id from its group-by columns (:func:`group_rows`).

Example:
    >>> import pyarrow as pa, pyarrow.parquet as pq, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "day.parquet")
    >>> pq.write_table(pa.table({"g": ["a", "b", "a", None]}), path)
    >>> ids: dict = {}
    >>> table = pq.read_table(path, read_dictionary=["g"])
    >>> group_rows(table, ["g"], [TextCodes()], ids).tolist(), list(ids)
    ([0, 1, 0, 2], [(0,), (1,), (-1,)])
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

#: Fewest rows (from the footers) worth counting from the files: below, DuckDB's SQL takes a few
#: milliseconds, less than loading the compiled loops (~0.6 s the first time in a process).
MIN_ROWS = 2_000_000
#: Largest groups x distinct values matrix counted here (int64 cells, 8 MB); larger goes to SQL, which spills.
MAX_CELLS = 1_000_000
#: Largest dictionary of one chunk mapped here (its texts are looked up one by one in Python).
MAX_DICTIONARY = 65_536

Qualified = TypeVar("Qualified")
Result = TypeVar("Result")


@dataclass(frozen=True)
class ParquetFiles:
    """The Parquet files a DuckDB relation scans as they are (no filter, rename or projection).

    ``filesystem`` is the fsspec filesystem of ``s3://`` paths (None for local files);
    ``partition_columns`` the Hive columns the relation takes from the paths (never counted here).
    """

    paths: tuple[str, ...]
    filesystem: Any = None
    partition_columns: tuple[str, ...] = ()


class TextCodes:
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


def row_groups(
    files: ParquetFiles, qualify: Callable[[Any], Qualified | None]
) -> list[tuple[str, int, Any, Qualified]] | None:
    """Every (file, row group, the file's footer, what ``qualify`` found in the footer) to count, or None as soon as
    ``qualify`` rejects a file's footer (``pyarrow.parquet.FileMetaData``)."""
    import pyarrow.parquet as pq

    units = []
    for path in files.paths:
        with opened(path, files.filesystem) as source:
            footer = pq.ParquetFile(source).metadata
        found = qualify(footer)
        if found is None:
            return None
        units.extend((path, index, footer, found) for index in range(footer.num_row_groups))
    return units


def split_runs(units: list[Qualified], threads: int) -> list[list[Qualified]]:
    """``units`` cut into at most ``threads`` runs of consecutive items (consecutive row groups share a file)."""
    parts = np.array_split(np.arange(len(units)), max(1, min(threads, len(units))))
    return [[units[i] for i in part] for part in parts if len(part)]


def in_workers(runs: list[list[Qualified]], count: Callable[[list[Qualified]], Result], name: str) -> list[Result]:
    """``count`` of each run, the runs on as many threads (pyarrow, numpy and the compiled counts release the GIL for
    nearly all of their work, so two threads take about half the time)."""
    if len(runs) == 1:
        return [count(runs[0])]
    with ThreadPoolExecutor(max_workers=len(runs), thread_name_prefix=name) as pool:
        return list(pool.map(count, runs))


def read_row_groups(
    files: ParquetFiles, units: list[tuple[str, int, Any, Qualified]], columns: list[str], dictionary: list[str]
) -> Iterator[tuple[Qualified, Any]]:
    """Each unit's row group as a pyarrow Table of ``columns`` (``dictionary``: paths read as dictionary codes), with
    what its file qualified with; each file opened once, and closed when the next one starts."""
    import pyarrow.parquet as pq

    with ExitStack() as stack:
        current, reader = None, None
        for path, index, footer, found in units:
            if path != current:
                stack.close()
                source = stack.enter_context(opened(path, files.filesystem))
                reader = pq.ParquetFile(source, metadata=footer, read_dictionary=dictionary)
                current = path
            assert reader is not None
            yield found, reader.read_row_group(index, columns=columns, use_threads=False)


@contextmanager
def opened(path: str, filesystem: Any) -> Iterator[Any]:
    """The file to read: its path for pyarrow on local disk, an open fsspec file (closed after) on S3."""
    if filesystem is None:
        yield path
        return
    with filesystem.open(path, "rb") as handle:
        yield handle


def is_text(arrow_type: Any) -> bool:
    import pyarrow as pa

    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)


def group_rows(
    table: Any, group_by: Sequence[str], codes: list[TextCodes], ids: dict[tuple[int, ...], int]
) -> np.ndarray | None:
    """Each row's group id (ids grow as new combinations of group values appear); None past the limits."""
    if not group_by:
        ids.setdefault((), 0)
        return np.zeros(table.num_rows, dtype=np.int64)
    if len(group_by) == 1:
        return _single_group_rows(table.column(group_by[0]), codes[0], ids)
    columns = []
    for name, known in zip(group_by, codes, strict=True):
        parts = []
        for chunk in table.column(name).chunks:
            lookup = known.lookup(chunk.dictionary)
            if lookup is None:
                return None
            values = lookup[chunk.indices.fill_null(0).to_numpy()]
            values[~valid_mask(chunk)] = -1  # a null group value
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


def _single_group_rows(column: Any, codes: TextCodes, ids: dict[tuple[int, ...], int]) -> np.ndarray | None:
    """:func:`group_rows` of one group column: each chunk's dictionary entries mapped to group ids, then one gather
    (the general path combines the columns' codes row by row, five times the work)."""
    parts = []
    for chunk in column.chunks:
        lookup = codes.lookup(chunk.dictionary)
        if lookup is None or len(codes.texts) >= MAX_CELLS:
            return None
        null = len(lookup)  # the entry the chunk's null rows point at
        local = chunk.indices.fill_null(null).to_numpy() if chunk.null_count else chunk.indices.to_numpy()
        entry_ids = np.full(null + 1, -1, dtype=np.int64)
        keyed = np.append(lookup, -1)
        for entry in np.flatnonzero(np.bincount(local, minlength=null + 1)).tolist():
            entry_ids[entry] = ids.setdefault((int(keyed[entry]),), len(ids))
        parts.append(entry_ids[local])
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def total_rows(units: list[tuple[str, int, Any, Any]]) -> int:
    """The rows of every unit's row group, from the footers."""
    return sum(footer.row_group(index).num_rows for _, index, footer, _ in units)


def validity_bitmap(array: Any) -> tuple[np.ndarray, int]:
    """An Arrow array's validity bitmap as bytes and the array's offset into it (no bytes: no nulls)."""
    if array.null_count == 0 or array.buffers()[0] is None:
        return _NO_BITMAP, array.offset
    return np.frombuffer(array.buffers()[0], dtype=np.uint8), array.offset


def buffer_values(array: Any, dtype: Any) -> np.ndarray:
    """A fixed-width Arrow array's values buffer as numpy, without a copy (nulls hold whatever the buffer holds)."""
    values = np.frombuffer(array.buffers()[1], dtype=dtype, count=len(array) + array.offset)
    return values[array.offset :]


_NO_BITMAP = np.zeros(0, dtype=np.uint8)


def valid_mask(array: Any) -> np.ndarray:
    return array.is_valid().to_numpy(zero_copy_only=False)
