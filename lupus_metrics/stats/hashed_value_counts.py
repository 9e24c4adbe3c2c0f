"""Counts of 64-bit values per group, in a compiled hash table (numba).

The profile's quantiles, distinct counts and moments of a numeric column come from the count of
each distinct value per group. DuckDB's hash aggregate on (group, value) costs ~45 ns a row on
the benchmark's day (three such columns are half of the profile); numpy has no grouped hash
count and ``pandas.factorize`` alone costs ~30 ns. This loop, an open-addressing table keyed on
the value's bits with a count per (value, group), costs ~8-12 ns. Written by hand because no
library here counts pairs of a small group id and an arbitrary 64-bit key without a general
hash aggregate's overhead; numba (already pinned) compiles it once per machine (``cache=True``).

Example:
    >>> import numpy as np
    >>> table = HashedValueCounts(groups=2)
    >>> values = np.array([1.5, 2.0, 1.5, float("nan"), -0.0])
    >>> table.add(values.view(np.uint64), np.array([0, 1, 1, 1, 0]), validity=np.array([0b11011], dtype=np.uint8),
    ...           floating=True)
    True
    >>> table.keys().view(np.float64).tolist(), table.counts().tolist()
    ([1.5, 2.0, 0.0], [[1, 0], [0, 1], [1, 0]])
"""

from __future__ import annotations

import numpy as np

#: Most cells (distinct values x groups) one table holds before it gives up (int64 cells: 32 MB).
MAX_TABLE_CELLS = 4_000_000


def _kernels() -> tuple:
    """The compiled loops, imported on first use (numba costs ~0.3 s to import)."""
    from lupus_metrics.stats.count_loops import count_into, rehash

    return count_into, rehash


def _aligned_bitmap(validity: np.ndarray | None, offset: int, length: int) -> np.ndarray:
    """A validity bitmap whose bit 0 is row 0 (all set for no bitmap, or an empty one): the loop reads bits without an
    offset, and every row's bit."""
    if validity is None or len(validity) == 0:
        return np.full((length + 7) // 8, 0xFF, dtype=np.uint8)
    if offset % 8 == 0:
        return validity[offset // 8 :]
    valid = np.unpackbits(validity, bitorder="little")[offset : offset + length]
    return np.packbits(valid, bitorder="little")


class HashedValueCounts:
    """The count of each distinct 64-bit key per group id, grown as keys and groups appear.

    Keys are raw bits: the caller views its values as ``uint64`` (integers widened to 64 bits
    first) and the keys back again; floats' ``-0.0`` is counted as ``0.0``, so equal values have
    equal keys.
    """

    def __init__(self, groups: int = 1, capacity: int = 1024):
        self._stride = max(1, groups)
        self._n = 0
        self._keys = np.zeros(capacity, dtype=np.uint64)
        self._slots = np.full((2 * capacity, 2), -1, dtype=np.int64)
        self._counts = np.zeros(capacity * self._stride, dtype=np.int64)

    def add(
        self,
        bits: np.ndarray,
        rows: np.ndarray,
        *,
        validity: np.ndarray | None = None,
        offset: int = 0,
        floating: bool = False,
    ) -> bool:
        """Count ``bits[i]`` in group ``rows[i]``; False once past :data:`MAX_TABLE_CELLS` (the counts are then partial).

        ``validity``: an Arrow validity bitmap (bit ``offset + i`` clear: row i is null, not counted).
        ``floating``: the bits are float64s; NaN is not counted and ``-0.0`` counts as ``0.0``.
        """
        count_into, _ = _kernels()
        if len(rows) and int(rows.max()) >= self._stride:
            self._widen(int(rows.max()) + 1)
        bitmap = _aligned_bitmap(validity, offset, len(bits))
        held = np.array([self._n], dtype=np.int64)
        start = 0
        while True:
            stopped = count_into(bits[start:], bitmap, floating, rows[start:], self._stride, self._slots,
                                 self._keys, self._counts, held)  # fmt: skip
            self._n = int(held[0])
            if start + stopped >= len(bits):
                return self._n * self._stride <= MAX_TABLE_CELLS
            if not self._grow():
                return False
            bitmap = _aligned_bitmap(bitmap, stopped, len(bits) - start - stopped)  # the rest, from bit 0
            start += stopped

    def keys(self) -> np.ndarray:
        """The distinct keys, in the order they were first seen."""
        return self._keys[: self._n].copy()

    def counts(self) -> np.ndarray:
        """keys x groups counts (int64)."""
        return self._counts.reshape(-1, self._stride)[: self._n].copy()

    def _grow(self) -> bool:
        capacity = 2 * len(self._keys)
        if capacity * self._stride > 2 * MAX_TABLE_CELLS:
            return False
        _, rehash = _kernels()
        self._keys = np.concatenate([self._keys, np.zeros(capacity - len(self._keys), dtype=np.uint64)])
        self._slots = np.full((2 * capacity, 2), -1, dtype=np.int64)
        rehash(self._keys, self._n, self._slots)
        counts = np.zeros((capacity, self._stride), dtype=np.int64)
        counts[: self._n] = self._counts.reshape(-1, self._stride)[: self._n]
        self._counts = counts.reshape(-1)
        return True

    def _widen(self, groups: int) -> None:
        stride = max(groups, 2 * self._stride)
        counts = np.zeros((len(self._keys), stride), dtype=np.int64)
        counts[:, : self._stride] = self._counts.reshape(-1, self._stride)
        self._stride, self._counts = stride, counts.reshape(-1)
