"""Counts per group taken straight from a day's Parquet files, for several columns in one pass.

The profile's costliest statistics all come from counts per group: the top-k of a text or list
column (each text's count), and the quantiles, distinct count and moments of a numeric column
(each distinct value's count). Over a scan of Parquet files those counts are cheaper from the
files than from SQL: texts as their dictionary codes
(:mod:`~lupus_metrics.stats.parquet_list_counts`), numbers in a compiled hash table
(:mod:`~lupus_metrics.stats.parquet_value_counts`). This module reads each row group once for all
of them, works out each row's group once, and splits the row groups over threads.

A column is counted only if it has the same qualifying type in every file (texts or lists of
texts; float or integer numbers) and is not a Hive column of the paths; the group-by columns
must be text columns of every file. Columns that do not qualify, or outgrow the limits, are left
out of the result and the caller computes them in SQL.

Example:
    >>> import pyarrow as pa, pyarrow.parquet as pq, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "day.parquet")
    >>> pq.write_table(pa.table({"g": ["a", "a", "b"], "c": ["x", None, "x"], "n": [1.5, 2.0, None]}), path)
    >>> counted = count_columns(ParquetFiles((path,)), ["g"], texts=["c"], numbers=["n"], min_rows=0)
    >>> counted.texts["c"].counts.tolist(), counted.numbers["n"].values.tolist(), counted.numbers["n"].counts.tolist()
    ([[1], [1]], [1.5, 2.0], [[1, 0], [1, 0]])
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lupus_metrics.stats import parquet_files
from lupus_metrics.stats.hashed_value_counts import HashedValueCounts
from lupus_metrics.stats.parquet_files import (
    ParquetFiles,
    TextCodes,
    group_rows,
    in_workers,
    is_text,
    read_row_groups,
    row_groups,
    split_runs,
    total_rows,
)
from lupus_metrics.stats.parquet_list_counts import ListCounts, TextTally, added_text_counts, text_leaf
from lupus_metrics.stats.parquet_value_counts import ValueCounts, add_numbers, added_value_counts, number_dtype


@dataclass(frozen=True)
class ColumnCounts:
    """The counts of the columns that could be counted from the files (the others are absent)."""

    texts: dict[str, ListCounts]
    numbers: dict[str, ValueCounts]
    rows: dict[tuple[str | None, ...], int] | None = None  # rows per group (None: not counted)


@dataclass(frozen=True)
class _Kinds:
    """What one file holds of the wanted columns: each text column's leaf and list-ness, each number's dtype."""

    texts: dict[str, tuple[str, bool]]
    numbers: dict[str, str]


def count_columns(
    files: ParquetFiles,
    group_by: Sequence[str],
    *,
    texts: Sequence[str] = (),
    numbers: Sequence[str] = (),
    threads: int = 1,
    min_rows: int | None = None,
) -> ColumnCounts | None:
    """Per group of ``group_by``: each text's count in every column of ``texts`` (list elements for a list
    column), each distinct value's count in every column of ``numbers`` and the rows, in one pass over
    ``files``.

    None when nothing can be counted here: the group columns do not qualify, or the files hold fewer
    than ``min_rows`` rows (default :data:`~lupus_metrics.stats.parquet_files.MIN_ROWS`; below it SQL
    is cheaper than loading the compiled loops). :func:`prepare_counts` and :meth:`PreparedCounts.run`
    are the same in two steps.
    """
    prepared = prepare_counts(files, group_by, texts=texts, numbers=numbers, min_rows=min_rows)
    return None if prepared is None else prepared.run(threads)


@dataclass(frozen=True)
class PreparedCounts:
    """The row groups to count and the columns that qualify in every file (:func:`prepare_counts`)."""

    files: ParquetFiles
    group_by: tuple[str, ...]
    units: list[tuple[str, int, Any, Any]]
    texts: dict[str, tuple[str, bool]]
    numbers: dict[str, str]
    rows: bool = False

    def load(self) -> bool:
        """Load the compiled loops now (~0.6 s the first time in a process; e.g. in a thread while SQL runs)."""
        return _loops_loaded()

    def run(self, threads: int = 1) -> ColumnCounts | None:
        """Count, on ``threads`` threads; None if the compiled loops do not load or the groups outgrow the limits."""
        if not (self.texts or self.numbers or self.rows):
            return ColumnCounts({}, {})
        try:  # the workers read their first row groups while the loops load (see load), then wait for them
            parts = in_workers(
                split_runs(self.units, threads),
                lambda run: _count(self.files, run, self.texts, list(self.numbers), self.group_by),
                "lupus-parquet-counts",
            )
        except (ImportError, RuntimeError, OSError):
            if not self.load():  # the compiled loops are missing here: SQL does it all
                return None
            raise
        if any(part is None for part in parts):
            return None
        done = [p for p in parts if p is not None]
        rows: dict[tuple[str | None, ...], int] = {}
        for part in done:
            for group, count in part[2].items():
                rows[group] = rows.get(group, 0) + count
        return ColumnCounts(
            texts={c: added_text_counts([p[0][c] for p in done]) for c in self.texts if all(c in p[0] for p in done)},
            numbers={
                c: added_value_counts([p[1][c] for p in done], np.dtype(self.numbers[c]))
                for c in self.numbers
                if all(c in p[1] for p in done)
            },
            rows=rows,
        )


def prepare_counts(
    files: ParquetFiles,
    group_by: Sequence[str],
    *,
    texts: Sequence[str] = (),
    numbers: Sequence[str] = (),
    rows: bool = False,
    min_rows: int | None = None,
) -> PreparedCounts | None:
    """The files' footers read and the columns checked (see :func:`count_columns`; ``rows``: count the rows per
    group too, even with no column to count); None if nothing can be counted."""
    hive = set(files.partition_columns)
    if set(group_by) & hive:
        return None
    texts = [c for c in dict.fromkeys(texts) if c not in hive]
    numbers = [c for c in dict.fromkeys(numbers) if c not in hive]
    if not (texts or numbers or rows):
        return None
    units = row_groups(files, lambda footer: _kinds(footer, texts, numbers, group_by))
    if units is None or total_rows(units) < (parquet_files.MIN_ROWS if min_rows is None else min_rows):
        return None
    kinds = [found for *_, found in units]
    return PreparedCounts(
        files,
        tuple(group_by),
        units,
        texts=_in_every_file([k.texts for k in kinds]),
        numbers=_in_every_file([k.numbers for k in kinds]),
        rows=rows,
    )


def _in_every_file(kinds: list[dict[str, Any]]) -> dict[str, Any]:
    """The columns every file has, with the same kind in each."""
    return {c: kind for c, kind in kinds[0].items() if all(k.get(c) == kind for k in kinds)} if kinds else {}


def _loops_loaded() -> bool:
    """Whether the compiled loops load here; if not (numba missing, or no writable cache directory for it), the
    SQL path computes everything, with a warning once per process."""
    try:
        import lupus_metrics.stats.count_loops  # noqa: F401
    except (ImportError, RuntimeError, OSError) as err:
        if not _WARNED:
            _WARNED.append(True)
            _LOG.warning("Counting from Parquet files is off, the profile runs in SQL only: %s", err)
        return False
    return True


_WARNED: list[bool] = []
_LOG = logging.getLogger(__name__)


def _kinds(footer: Any, texts: list[str], numbers: list[str], group_by: Sequence[str]) -> _Kinds | None:
    """The file's qualifying wanted columns; None if a group column is missing or not text."""
    schema = footer.schema.to_arrow_schema()
    if any(g not in schema.names or not is_text(schema.field(g).type) for g in group_by):
        return None
    found_texts = {c: leaf for c in texts if c in schema.names and (leaf := text_leaf(schema, footer, c)) is not None}
    found_numbers = {c: str(dtype) for c in numbers if c in schema.names and (dtype := number_dtype(schema, c)) is not None}  # fmt: skip
    return _Kinds(found_texts, found_numbers)


def _count(
    files: ParquetFiles,
    units: list[tuple[str, int, Any, Any]],
    texts: dict[str, tuple[str, bool]],
    numbers: list[str],
    group_by: Sequence[str],
) -> tuple[dict[str, ListCounts], dict[str, tuple], dict[tuple[str | None, ...], int]] | None:
    """One worker's counts of its row groups; a column that outgrows the limits is dropped (None: groups did)."""
    group_codes = [TextCodes() for _ in group_by]
    group_ids: dict[tuple[int, ...], int] = {}
    text_tallies = {c: TextTally(is_list) for c, (_, is_list) in texts.items()}
    number_tallies = {c: HashedValueCounts() for c in numbers}
    row_counts = np.zeros(0, dtype=np.int64)
    columns = list(dict.fromkeys([*texts, *numbers, *group_by]))
    dictionary = list(dict.fromkeys([*(leaf for leaf, _ in texts.values()), *group_by]))
    for _, table in read_row_groups(files, units, columns, dictionary):
        rows = group_rows(table, group_by, group_codes, group_ids)
        if rows is None:
            return None
        row_counts = np.pad(row_counts, (0, len(group_ids) - len(row_counts)))
        row_counts += np.bincount(rows, minlength=len(group_ids))
        for column, tally in list(text_tallies.items()):
            if not tally.add(table.column(column), rows, len(group_ids)):
                del text_tallies[column]
        for column, counter in list(number_tallies.items()):
            if not add_numbers(counter, table.column(column), rows):
                del number_tallies[column]
    groups = [tuple(None if c < 0 else group_codes[j].texts[c] for j, c in enumerate(key)) for key in group_ids]
    return (
        {c: tally.result(groups) for c, tally in text_tallies.items()},
        {
            c: (groups, counter.keys(), _per_group(counter.counts(), len(groups)))
            for c, counter in number_tallies.items()
        },
        dict(zip(groups, np.pad(row_counts, (0, len(groups) - len(row_counts))).tolist(), strict=True)),
    )


def _per_group(counts: np.ndarray, groups: int) -> np.ndarray:
    """keys x ``groups`` counts (the table's rows may be wider than the groups, or narrower if a group never came)."""
    if counts.shape[1] >= groups:
        return counts[:, :groups]
    return np.pad(counts, ((0, 0), (0, groups - counts.shape[1])))
