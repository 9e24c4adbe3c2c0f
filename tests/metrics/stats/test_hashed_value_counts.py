"""The compiled count of 64-bit keys per group: the counts of pandas, through table growth, nulls and NaN."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lupus_metrics.stats import hashed_value_counts
from lupus_metrics.stats.hashed_value_counts import HashedValueCounts


def _as_frame(table: HashedValueCounts, groups: int, dtype: type = np.float64) -> pd.Series:
    keys = table.keys().view(dtype)
    counts = table.counts()[:, :groups]
    value, group = np.nonzero(counts)
    return pd.Series(counts[value, group], index=pd.MultiIndex.from_arrays([group, keys[value]])).sort_index()


def _expected(values: np.ndarray, rows: np.ndarray, valid: np.ndarray) -> pd.Series:
    frame = pd.DataFrame({"g": rows[valid], "v": values[valid]})
    return frame.groupby(["g", "v"]).size().sort_index()


def test_counts_match_pandas_through_growth_of_keys_and_groups():
    rng = np.random.default_rng(7)
    table = HashedValueCounts(groups=1, capacity=4)  # grows many times
    values_all, rows_all = [], []
    for chunk in range(5):
        values = np.round(rng.normal(0, 50, 20_000), 1)  # ~3,000 distinct values
        rows = rng.integers(0, 3 + 4 * chunk, len(values))  # new group ids in every chunk
        assert table.add(values.view(np.uint64), rows, floating=True)  # np.round makes some -0.0
        values_all.append(values)
        rows_all.append(rows)
    values, rows = np.concatenate(values_all), np.concatenate(rows_all)
    got = _as_frame(table, int(rows.max()) + 1)
    expected = _expected(values, rows, np.ones(len(values), dtype=bool))
    assert got.index.equals(expected.index) and (got.to_numpy() == expected.to_numpy()).all()


def test_validity_bitmap_with_an_offset_nan_and_negative_zero():
    array = pa.array([1.0, None, -0.0, 0.0, float("nan"), 2.5, None, 2.5, -7.0, 1.0, None, 3.0])[3:]
    bits = np.frombuffer(array.buffers()[1], dtype=np.uint64)[array.offset :]
    rows = np.array([0, 1, 1, 0, 1, 1, 0, 0, 1])
    table = HashedValueCounts(groups=2)
    assert table.add(bits, rows, validity=np.frombuffer(array.buffers()[0], dtype=np.uint8), offset=array.offset,
                     floating=True)  # fmt: skip
    got = _as_frame(table, 2).to_dict()
    # offset 3: 0.0 (g0), NaN (not counted), 2.5 (g1), null, 2.5 (g1), -7.0 (g1), 1.0 (g0), null, 3.0 (g1)
    assert got == {(0, 0.0): 1, (0, 1.0): 1, (1, -7.0): 1, (1, 2.5): 2, (1, 3.0): 1}


def test_negative_zero_and_zero_are_one_key():
    values = np.array([0.0, -0.0, -0.0, 1.0])
    table = HashedValueCounts()
    table.add(values.view(np.uint64), np.zeros(4, dtype=np.int64), floating=True)
    assert table.keys().view(np.float64).tolist() == [0.0, 1.0]
    assert table.counts()[:, 0].tolist() == [3, 1]


def test_integers_keep_their_bits_and_floats_off_keep_nan():
    values = np.array([-1, 2**62, -1, 5], dtype=np.int64)
    table = HashedValueCounts()
    table.add(values.view(np.uint64), np.zeros(4, dtype=np.int64))
    assert dict(zip(table.keys().view(np.int64).tolist(), table.counts()[:, 0].tolist(), strict=True)) == {
        -1: 2, 2**62: 1, 5: 1,
    }  # fmt: skip
    # An integer whose bits happen to look like a NaN is still a value when floating is off.
    nan_bits = np.array([np.float64("nan")]).view(np.uint64)
    table = HashedValueCounts()
    table.add(nan_bits, np.zeros(1, dtype=np.int64))
    assert table.counts()[:, 0].tolist() == [1]


def test_gives_up_past_the_cell_limit(monkeypatch):
    monkeypatch.setattr(hashed_value_counts, "MAX_TABLE_CELLS", 1_000)
    table = HashedValueCounts(groups=2)
    values = np.arange(600, dtype=np.float64)
    assert not table.add(values.view(np.uint64), np.arange(600) % 2)


@pytest.mark.parametrize("keys", [np.arange(50_000, dtype=np.float64) * 2.0**16, np.arange(50_000) * 2.0**-30])
def test_keys_differing_only_in_high_or_low_bits(keys):
    """Powers of two apart, or apart in the last mantissa bits only: every key stays distinct."""
    table = HashedValueCounts()
    table.add(keys.view(np.uint64), np.zeros(len(keys), dtype=np.int64), floating=True)
    assert len(table.keys()) == len(keys) and (table.counts()[:, 0] == 1).all()


def test_nulls_of_a_sliced_array_through_many_growths():
    """An Arrow array sliced at a bit offset, with nulls, NaN and -0.0, counted in a table that starts tiny: each
    growth resumes mid-array on a realigned bitmap."""
    rng = np.random.default_rng(11)
    values = np.round(rng.normal(0, 30, 30_003), 1)
    values[rng.random(len(values)) < 0.05] = np.nan
    values[rng.random(len(values)) < 0.02] = -0.0
    mask = rng.random(len(values)) < 0.1
    array = pa.array(values, mask=mask, from_pandas=False)[3:]
    rows = rng.integers(0, 4, len(array))
    table = HashedValueCounts(capacity=2)
    bits = np.frombuffer(array.buffers()[1], dtype=np.uint64)[array.offset : array.offset + len(array)]
    bitmap = np.frombuffer(array.buffers()[0], dtype=np.uint8)
    assert table.add(bits, rows, validity=bitmap, offset=array.offset, floating=True)
    kept = ~mask[3:] & ~np.isnan(values[3:])
    expected = _expected(values[3:] + 0.0, rows, kept)
    got = _as_frame(table, 4)
    assert got.index.equals(expected.index) and (got.to_numpy() == expected.to_numpy()).all()
