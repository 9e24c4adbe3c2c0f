"""List columns of Parquet files counted from their dictionary codes: the same points as the SQL path,
and the SQL path wherever the files do not qualify."""

from __future__ import annotations

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lupus_metrics.stats import compute_profile
from lupus_metrics.stats.parquet_list_counts import ParquetFiles, count_list_elements

SPEC = {
    "group_by": ["region", "device"],
    "columns": {"tags": ["count", "null_rate", "topk:3", "other_share"], "score": ["mean", "p50"]},
}


def _tricky_files(folder) -> list[str]:
    """Null lists, empty lists, null and empty-string elements, null group values, ties, non-ASCII values,
    small row groups, one file without dictionary encoding and one with its own vocabulary order."""
    a = pa.table({
        "region": ["JP", "JP", None, "US", "US", "JP", "FR", None],
        "device": ["ios", "web", "ios", None, "ios", "ios", "web", None],
        "score": [0.1, 0.2, None, 0.4, 0.5, 0.6, 0.7, 0.8],
        "tags": [["a", "b"], None, [], ["b", None, ""], ["é", "Z", "a"], ["a", "a"], None, ["b"]],
    })  # fmt: skip
    b = pa.table({
        "region": ["US", "JP", "JP"],
        "device": ["web", "ios", "ios"],
        "score": [1.0, 1.1, None],
        "tags": [["z", "b"], [None], ["b", "b", "é"]],
    })  # fmt: skip
    c = pa.table({
        "region": ["FR", "FR", "JP"],
        "device": ["web", "web", "web"],
        "score": [2.0, 2.1, 2.2],
        "tags": [["Z", "z"], ["y"], []],
    })  # fmt: skip
    paths = [str(folder / name) for name in ("a.parquet", "b.parquet", "c.parquet")]
    pq.write_table(a, paths[0], row_group_size=3)
    pq.write_table(b, paths[1], use_dictionary=False)
    pq.write_table(c.take([2, 1, 0]), paths[2], row_group_size=2)
    return paths


def _profiles(paths: list[str], spec: dict, **read) -> tuple[pd.DataFrame, pd.DataFrame]:
    con = duckdb.connect()
    relation = con.read_parquet(paths, union_by_name=True, **read)
    return (
        compute_profile(relation, spec, ts="2026-01-01"),
        compute_profile(relation, spec, ts="2026-01-01", files=ParquetFiles(tuple(paths))),
    )


# Tiny files are counted from the files all the same (file_counts sets MIN_ROWS to 0), recorded in each test.
pytestmark = pytest.mark.usefixtures("file_counts")


def test_counts_from_dictionary_codes_give_the_points_of_the_sql_path(tmp_path, file_counts):
    sql, listed = _profiles(_tricky_files(tmp_path), SPEC)
    assert len(file_counts) == 1 and "tags" in file_counts[0].texts  # the files were counted, not handed back to SQL
    pd.testing.assert_frame_equal(listed, sql)
    overall = sql[(sql["labels"] == {}) & (sql["metric"] == "tags.count")]["value"].iloc[0]
    assert overall == 12  # non-null lists, empty ones included
    top = sql[sql["metric"] == "tags.topk_count"]
    assert {"value": "b", "rank": "1"} in top["labels"].tolist()  # b: 7, nulls never counted
    assert any(labels.get("region") == "__null__" for labels in top["labels"])


def test_without_group_by_and_with_two_threads_the_counts_are_the_same(tmp_path, file_counts):
    paths = _tricky_files(tmp_path)
    sql, listed = _profiles(paths, {"columns": {"tags": ["count", "topk:10"]}})
    pd.testing.assert_frame_equal(listed, sql)
    one = count_list_elements(ParquetFiles(tuple(paths)), "tags", ("region",), threads=1)
    two = count_list_elements(ParquetFiles(tuple(paths)), "tags", ("region",), threads=3)
    assert one is not None and two is not None
    assert _cells(one) == _cells(two) and len(_cells(one)) > 5


def _cells(counts) -> dict:
    cells = {(g, v): int(counts.counts[i, j]) for i, g in enumerate(counts.groups) for j, v in enumerate(counts.values)}
    return {
        **{k: n for k, n in cells.items() if n},
        **{(g, None): int(n) for g, n in zip(counts.groups, counts.non_null, strict=True)},
    }


def test_files_that_do_not_qualify_are_counted_by_sql_with_the_same_points(tmp_path, file_counts):
    numbers = str(tmp_path / "numbers.parquet")
    pq.write_table(pa.table({"region": ["a", "b"], "tags": [[1, 2], [2]]}), numbers)
    assert count_list_elements(ParquetFiles((numbers,)), "tags", ("region",)) is None  # not a list of strings
    sql, listed = _profiles([numbers], {"group_by": ["region"], "columns": {"tags": ["count", "topk:2"]}})
    pd.testing.assert_frame_equal(listed, sql)

    paths = _tricky_files(tmp_path)
    pq.write_table(pa.table({"tags": [["a"]], "score": [1.0]}), paths[1])  # a file without the group columns
    sql, listed = _profiles(paths, SPEC)
    pd.testing.assert_frame_equal(listed, sql)
    assert file_counts[-1] is None

    grouped_by_number = {"group_by": ["score"], "columns": {"tags": ["topk:2"]}}
    assert count_list_elements(ParquetFiles(tuple(paths)), "tags", ("score",)) is None
    sql, listed = _profiles(paths, grouped_by_number)
    pd.testing.assert_frame_equal(listed, sql)


def test_a_hive_column_of_the_paths_is_never_taken_from_the_files(tmp_path, file_counts):
    folder = tmp_path / "region=XX"
    folder.mkdir()
    paths = _tricky_files(folder)
    con = duckdb.connect()
    relation = con.read_parquet(paths, hive_partitioning=True, union_by_name=True)
    spec = {"group_by": ["region"], "columns": {"tags": ["count", "topk:2"]}}
    files = ParquetFiles(tuple(paths), partition_columns=("region",))
    listed = compute_profile(relation, spec, ts="2026-01-01", files=files)
    pd.testing.assert_frame_equal(listed, compute_profile(relation, spec, ts="2026-01-01"))
    assert {labels["region"] for labels in listed["labels"] if "region" in labels} == {"XX"}
    assert file_counts == [None]


def test_a_filter_or_a_sample_keeps_the_sql_path(tmp_path, file_counts):
    paths = _tricky_files(tmp_path)
    for extra in ({"filter": "score > 0.3"}, {"sample": {"fraction": 0.5, "seed": 3}}):
        sql, listed = _profiles(paths, {**SPEC, **extra})
        if "filter" in extra:  # a sample is drawn anew by each run: only the filtered profile compares
            pd.testing.assert_frame_equal(listed, sql)
    assert file_counts == []


def test_lengths_asked_beyond_the_count_still_come_from_sql(tmp_path, file_counts):
    spec = {"group_by": ["region"], "columns": {"tags": ["count", "length_mean", "topk:2"]}}
    sql, listed = _profiles(_tricky_files(tmp_path), spec)
    pd.testing.assert_frame_equal(listed, sql)
    assert file_counts and "tags" in file_counts[0].texts
