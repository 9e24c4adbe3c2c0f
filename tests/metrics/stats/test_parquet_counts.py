"""Counts taken from Parquet files in one pass (numbers hashed, texts from dictionary codes): the counts of
pandas, the points of the SQL path, and SQL for every column the files cannot count."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lupus_metrics.stats import compute_profile, duckdb_engine, hashed_value_counts, parquet_files
from lupus_metrics.stats.parquet_counts import count_columns
from lupus_metrics.stats.parquet_files import ParquetFiles
from lupus_metrics.stats.parquet_value_counts import count_values

# Tiny files are counted from the files all the same (file_counts sets MIN_ROWS to 0), recorded in each test.
pytestmark = pytest.mark.usefixtures("file_counts")


def _day(folder, seed: int = 0) -> tuple[list[str], pd.DataFrame]:
    """Three files of small row groups: floats with nulls, NaN and both zeros, integers of several widths with
    nulls, a float32, huge unsigned values, texts with nulls and empty strings, null group values."""
    rng = np.random.default_rng(seed)
    frames, paths = [], []
    for part, rows in enumerate((700, 450, 300)):
        x = np.round(rng.normal(0, 3, rows), 1)
        x[rng.random(rows) < 0.1] = np.nan
        x[rng.random(rows) < 0.05] = -0.0
        frame = pd.DataFrame({
            "region": pd.Series(rng.choice(["JP", "US", "FR", None], rows), dtype=object),
            "device": rng.choice(["ios", "web"], rows),
            "x": x,
            "n": pd.array(rng.integers(-5, 6, rows), dtype="Int32"),
            "small": rng.integers(0, 3, rows).astype("int8"),
            "f32": np.round(rng.normal(0, 1, rows), 1).astype("float32"),
            "big": (np.uint64(2**63) + rng.integers(0, 4, rows).astype("uint64")),
            "category": pd.Series(rng.choice(["a", "b", "", "é", None], rows), dtype=object),
        })  # fmt: skip
        frame.loc[rng.random(rows) < 0.1, "n"] = pd.NA
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if part == 1:  # nulls as nulls, not NaN, in the float column of one file
            table = table.set_column(2, "x", pa.array(frame["x"].to_numpy(), from_pandas=True))
        path = str(folder / f"part-{part}.parquet")
        pq.write_table(table, path, row_group_size=128, use_dictionary=part != 2)
        paths.append(path)
        frames.append(frame)
    return paths, pd.concat(frames, ignore_index=True)


def _expected_counts(frame: pd.DataFrame, column: str, group_by: list[str]) -> dict:
    values = frame[column]
    keep = values.notna() & ~(values.astype("float64").isna() if values.dtype.kind == "f" else False)
    kept = frame[keep]
    counted = kept.groupby([*group_by, column], dropna=False).size()
    return {tuple(None if pd.isna(k) else k for k in (key if isinstance(key, tuple) else (key,))): int(n)
            for key, n in counted.items()}  # fmt: skip


def _got_counts(counts) -> dict:
    value_index, group_index = np.nonzero(counts.counts)
    return {(*counts.groups[g], counts.values[v].item()): int(counts.counts[v, g])
            for v, g in zip(value_index, group_index, strict=True)}  # fmt: skip


@pytest.mark.parametrize("column", ["x", "n", "small", "f32", "big"])
def test_numbers_are_counted_as_pandas_counts_them(tmp_path, column):
    paths, frame = _day(tmp_path)
    counted = count_columns(ParquetFiles(tuple(paths)), ["region", "device"], numbers=[column])
    assert counted is not None and column in counted.numbers
    got = _got_counts(counted.numbers[column])
    expected = _expected_counts(frame.assign(x=frame["x"] + 0.0), column, ["region", "device"])  # -0.0 is 0.0
    assert got == expected and len(got) > 10


def test_texts_are_counted_as_pandas_counts_them(tmp_path):
    paths, frame = _day(tmp_path)
    counted = count_columns(ParquetFiles(tuple(paths)), ["region"], texts=["category"])
    assert counted is not None
    texts = counted.texts["category"]
    got = {(g[0], v): int(texts.counts[i, j]) for i, g in enumerate(texts.groups) for j, v in enumerate(texts.values)
           if texts.counts[i, j]}  # fmt: skip
    assert got == _expected_counts(frame, "category", ["region"])
    non_null = dict(zip([g[0] for g in texts.groups], texts.non_null.tolist(), strict=True))
    expected = frame.groupby("region", dropna=False)["category"].count()
    assert non_null == {None if pd.isna(k) else k: int(v) for k, v in expected.items()}


def test_threads_and_no_group_by_give_the_same_counts(tmp_path):
    paths, frame = _day(tmp_path)
    files = ParquetFiles(tuple(paths))
    one = count_columns(files, ["region"], texts=["category"], numbers=["x", "n"], threads=1)
    three = count_columns(files, ["region"], texts=["category"], numbers=["x", "n"], threads=3)
    for column in ("x", "n"):
        assert _got_counts(one.numbers[column]) == _got_counts(three.numbers[column])
    ungrouped = count_columns(files, [], numbers=["x"], threads=2)
    expected = (frame["x"] + 0.0).dropna().value_counts()
    assert _got_counts(ungrouped.numbers["x"]) == {(v,): int(n) for v, n in expected.items()}


def test_columns_the_files_cannot_count_are_left_out(tmp_path, monkeypatch):
    paths, _ = _day(tmp_path)
    files = ParquetFiles(tuple(paths))
    counted = count_columns(files, ["region"], texts=["x", "category", "missing"], numbers=["category", "x"])
    assert set(counted.texts) == {"category"} and set(counted.numbers) == {"x"}
    # A column whose type differs between files.
    other = str(tmp_path / "other.parquet")
    pq.write_table(pa.table({"region": ["JP"], "x": pa.array([1], pa.int64()), "category": ["a"]}), other)
    mixed = count_columns(ParquetFiles((*paths, other)), ["region"], texts=["category"], numbers=["x"])
    assert set(mixed.numbers) == set() and set(mixed.texts) == {"category"}
    # Hive columns of the paths, group columns that are not text, too few rows.
    hive = ParquetFiles(tuple(paths), partition_columns=("x",))
    assert set(count_columns(hive, ["region"], numbers=["x", "n"]).numbers) == {"n"}
    assert count_columns(ParquetFiles(tuple(paths), partition_columns=("region",)), ["region"], numbers=["x"]) is None
    assert count_columns(files, ["small"], numbers=["x"]) is None
    assert count_columns(files, ["region"], numbers=["x"], min_rows=10_000) is None
    # Too many distinct values for the table: that column only goes back to SQL.
    monkeypatch.setattr(hashed_value_counts, "MAX_TABLE_CELLS", 40)
    limited = count_columns(files, ["region"], numbers=["x", "small"])
    assert set(limited.numbers) == {"small"}
    assert count_values(files, ["x", "small"], ["region"]) is None


SPEC = {
    "group_by": ["region", "device"],
    "columns": {
        "x": ["count", "null_rate", "mean", "std", "min", "max", "p05", "p50", "p95", "distinct_count"],
        "n": ["count", "mean", "p50", "distinct_count", "zero_rate"],
        "f32": ["mean", "p95", "distinct_count"],
        "big": ["min", "max", "p50"],
        "category": ["count", "null_rate", "distinct_count", "topk:3"],
    },
}


#: Every stat from counts: the rows per group come from the files' pass too, and no SQL scans the rows.
COUNTED_ONLY = {
    "group_by": ["region", "device"],
    "columns": {"x": ["count", "null_rate", "p50", "distinct_count"], "n": ["mean", "p95"],
                "category": ["count", "null_rate", "distinct_count", "topk:2"]},
}  # fmt: skip


@pytest.mark.parametrize(
    "spec",
    [SPEC, {**SPEC, "group_by": []}, {**SPEC, "group_by": ["region"]}, COUNTED_ONLY, {**COUNTED_ONLY, "group_by": []}],
)
def test_profile_from_the_files_has_the_points_of_the_sql_path(tmp_path, file_counts, spec, monkeypatch):
    paths, _ = _day(tmp_path, seed=4)
    relation = duckdb.connect().read_parquet(paths)
    sql = compute_profile(relation, spec, ts="2026-01-01")
    streaming_queries = []
    scalar_sql = duckdb_engine.scalar_sql
    monkeypatch.setattr(duckdb_engine, "scalar_sql", lambda *a, **k: streaming_queries.append(1) or scalar_sql(*a, **k))
    counted = compute_profile(relation, spec, ts="2026-01-01", files=ParquetFiles(tuple(paths)))
    numbers = {c for c in spec["columns"] if c != "category"}
    assert (
        len(file_counts) == 1 and set(file_counts[0].numbers) == numbers and set(file_counts[0].texts) == {"category"}
    )
    # With only counted stats, the rows per group come from the files' pass: no SQL scans the rows at all.
    assert len(streaming_queries) == (0 if spec["columns"] is COUNTED_ONLY["columns"] else 1)
    key = ["metric", "labels"]
    sql, counted = (
        p.assign(labels=p["labels"].map(str)).sort_values(key).reset_index(drop=True) for p in (sql, counted)
    )
    pd.testing.assert_frame_equal(counted.drop(columns="value"), sql.drop(columns="value"))
    exact = ~sql["metric"].str.endswith((".mean", ".std"))  # sums in another order: equal to the last bits
    pd.testing.assert_series_equal(counted["value"][exact], sql["value"][exact])
    np.testing.assert_allclose(counted["value"][~exact].astype(float), sql["value"][~exact].astype(float), rtol=1e-12)


def test_too_few_rows_keep_the_sql_path(tmp_path, file_counts, monkeypatch):
    monkeypatch.setattr(parquet_files, "MIN_ROWS", 10_000)
    paths, _ = _day(tmp_path)
    relation = duckdb.connect().read_parquet(paths)
    counted = compute_profile(relation, SPEC, ts="2026-01-01", files=ParquetFiles(tuple(paths)))
    pd.testing.assert_frame_equal(counted, compute_profile(relation, SPEC, ts="2026-01-01"))
    assert file_counts == [None]


def test_without_the_compiled_loops_everything_runs_in_sql(tmp_path, file_counts, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "lupus_metrics.stats.count_loops", None)  # import fails
    paths, _ = _day(tmp_path)
    relation = duckdb.connect().read_parquet(paths)
    counted = compute_profile(relation, SPEC, ts="2026-01-01", files=ParquetFiles(tuple(paths)))
    pd.testing.assert_frame_equal(counted, compute_profile(relation, SPEC, ts="2026-01-01"))
    assert file_counts == [None]
