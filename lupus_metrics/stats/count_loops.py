"""The compiled counting loops of the counts taken from Parquet files (imported on first use: numba costs ~0.3 s).

:func:`count_into` and :func:`rehash` serve :mod:`~lupus_metrics.stats.hashed_value_counts`;
:func:`count_codes` counts dictionary codes of text and list columns per group
(:mod:`~lupus_metrics.stats.parquet_list_counts`): ~1.5 ns an element where numpy's
``repeat`` + ``bincount`` took ~6. Hand-written because no library here counts small integer
pairs without materialising them first.

Top-level functions, so that numba's on-disk cache (``cache=True``) finds them again in the next
process instead of compiling them (~0.7 s).
"""

import numba
import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # 2^64 / golden ratio
_EXPONENT = np.uint64(0x7FF0000000000000)
_MANTISSA = np.uint64(0x000FFFFFFFFFFFFF)
_NEGATIVE_ZERO = np.uint64(0x8000000000000000)


@numba.njit(nogil=True, cache=True, inline="always")
def slot_of(key, shift):
    # Fibonacci hashing of the key with its high half folded in: the top bits of a product only see the
    # factor's low bits once the high ones are mixed down, and a float's low bits are often all zero. Fewer
    # probes than the top bits of the plain product on prices (1.01 vs 1.17 a row), and no slower to compute.
    folded = key ^ (key >> np.uint64(32))
    return np.int64((folded * _GOLDEN) >> np.uint64(shift))


@numba.njit(nogil=True, cache=True, inline="always")
def shift_of(size):
    # 64 - log2(size): the product's top bits that index a table of ``size`` (a power of two) slots.
    shift = 64
    while size > 1:
        size >>= 1
        shift -= 1
    return shift


@numba.njit(nogil=True, cache=True, inline="always")
def is_set(bitmap, index):
    # Arrow validity bitmaps: bit ``index``, least significant bit first; no bitmap means every slot is valid.
    return bitmap.shape[0] == 0 or (bitmap[index >> 3] >> (index & 7)) & 1


@numba.njit(nogil=True, cache=True)
def count_into(bits, bitmap, floating, rows, stride, slots, keys, counts, held):
    """Count ``bits[i]`` in group ``rows[i]`` where bit i of ``bitmap`` is set (see ``HashedValueCounts.add``);
    ``held[0]`` is the number of keys held, updated. Returns the row it stopped at: ``len(bits)`` when done, less
    when the table is full (the caller grows it and resumes there).

    The bitmap starts at row 0 (the caller realigns an offset one): an offset added to every row's bit index cost
    15 % of the loop, as did resuming inside the loop rather than on slices of the arrays."""
    mask = slots.shape[0] - 1
    shift = shift_of(slots.shape[0])
    capacity = keys.shape[0]
    n = held[0]
    for i in range(bits.shape[0]):
        if not (bitmap[i >> 3] >> (i & 7)) & 1:
            continue  # null
        key = bits[i]
        if floating:
            if key & _EXPONENT == _EXPONENT and key & _MANTISSA:
                continue  # NaN counts as null
            if key == _NEGATIVE_ZERO:
                key = np.uint64(0)
        stored = np.int64(key)  # slots hold (key index or -1, key): one cache line per probe
        slot = slot_of(key, shift)
        while True:
            found = slots[slot, 0]
            if found < 0:
                if n == capacity:
                    held[0] = n
                    return i
                slots[slot, 0] = n
                slots[slot, 1] = stored
                keys[n] = key
                found = n
                n += 1
                break
            if slots[slot, 1] == stored:
                break
            slot = (slot + 1) & mask
        counts[found * stride + rows[i]] += 1
    held[0] = n
    return bits.shape[0]


@numba.njit(nogil=True, cache=True)
def rehash(keys, n, slots):
    """Insert keys ``0:n`` into empty ``slots`` (a larger table)."""
    mask = slots.shape[0] - 1
    shift = shift_of(slots.shape[0])
    for k in range(n):
        slot = slot_of(keys[k], shift)
        while slots[slot, 0] >= 0:
            slot = (slot + 1) & mask
        slots[slot, 0] = k
        slots[slot, 1] = np.int64(keys[k])


@numba.njit(nogil=True, cache=True)
def count_codes(offsets, lists_valid, lists_offset, codes, codes_valid, codes_offset, rows, width, counts, non_null):
    """Per list ``r`` not null: ``non_null[rows[r]] += 1`` and, per element ``j`` of it that is not null,
    ``counts[rows[r] * width + codes[j]] += 1`` (a text column is a list of one element per row)."""
    for r in range(rows.shape[0]):
        if not is_set(lists_valid, lists_offset + r):
            continue
        group = rows[r]
        non_null[group] += 1
        base = group * width
        for j in range(offsets[r], offsets[r + 1]):
            if is_set(codes_valid, codes_offset + j):
                counts[base + codes[j]] += 1
