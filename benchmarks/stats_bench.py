"""Profile speed: the declarative spec (DuckDB engine) against hand-written pandas and hand-written DuckDB SQL,
and rows per second of the Spark engine in local mode.

Data (same frame for the three pandas-side contenders, as pd.read_parquet(dtype_backend="pyarrow")
returns it; --numpy-dtypes gives object strings and arrays instead): N rows x (3 float columns with 5% nulls, 1 categorical with
50 levels, 1 array column of 0-10 tags from 200), grouped by a 5-level column. Stats:
count, null_rate, mean, std, min, max, p05, p50, p95, distinct_count on the numbers;
count, null_rate, distinct_count, topk:5 on the categorical; count, null_rate, topk:5 on the tags.

    .venv/bin/python benchmarks/stats_bench.py                 # 5M rows, 3 repeats, Spark on 20M rows
    .venv/bin/python benchmarks/stats_bench.py --rows 1000000 --spark-rows 0
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from lupus_metrics.stats import ProfileSpec, compute_profile

NUMERIC = ["x1", "x2", "x3"]
NUMERIC_STATS = ["count", "null_rate", "mean", "std", "min", "max", "p05", "p50", "p95", "distinct_count"]
SPEC = ProfileSpec(
    group_by=["segment"],
    columns={
        **{c: NUMERIC_STATS for c in NUMERIC},
        "category": ["count", "null_rate", "distinct_count", "topk:5"],
        "tags": ["count", "null_rate", "topk:5"],
    },
)
TS = "2026-01-01"


def make_frame(rows: int, seed: int = 0, *, arrow_dtypes: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns: dict[str, pa.Array] = {
        "segment": pa.array(np.array([f"s{i}" for i in range(5)])[rng.integers(0, 5, rows)])
    }
    for name in NUMERIC:
        values = np.round(rng.normal(100, 15, rows), 2)  # rounded so distinct_count has work to do
        columns[name] = pa.array(values, mask=rng.random(rows) < 0.05)
    columns["category"] = pa.array(np.array([f"cat{i:02d}" for i in range(50)])[rng.zipf(1.5, rows) % 50])
    lengths = rng.integers(0, 11, rows)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype("int32")
    vocabulary = pa.array([f"tag{i:03d}" for i in range(200)])
    elements = vocabulary.take(pa.array(rng.zipf(1.3, int(offsets[-1])) % 200))
    columns["tags"] = pa.ListArray.from_arrays(pa.array(offsets), elements)
    table = pa.table(columns)
    # What pd.read_parquet(..., dtype_backend="pyarrow") returns; without it, object strings and arrays.
    return table.to_pandas(types_mapper=pd.ArrowDtype) if arrow_dtypes else table.to_pandas()


def pandas_profile(df: pd.DataFrame) -> dict[str, object]:
    """What one writes by hand in pandas: per group and overall, then top-5s via value_counts / explode."""
    out: dict[str, object] = {}
    g = df.groupby("segment", sort=True)
    quantiles = [0.05, 0.5, 0.95]
    for name, frame, group in (("groups", df, g), ("overall", df.assign(segment="*"), None)):
        grouped = group if group is not None else frame.groupby("segment")
        num = grouped[NUMERIC]
        out[f"{name}.num"] = num.agg(["count", "mean", "std", "min", "max", "nunique"])
        out[f"{name}.null_rate"] = frame[NUMERIC].isna().groupby(frame["segment"]).mean()
        out[f"{name}.q"] = num.quantile(quantiles)
        cat = grouped["category"]
        out[f"{name}.cat"] = cat.agg(["count", "nunique"])
        out[f"{name}.cat_null"] = frame["category"].isna().groupby(frame["segment"]).mean()
        out[f"{name}.tags"] = grouped["tags"].count()
        out[f"{name}.tags_null"] = frame["tags"].isna().groupby(frame["segment"]).mean()
        out[f"{name}.cat_top"] = _top5(frame[["segment", "category"]], "category")
        out[f"{name}.tags_top"] = _top5(frame[["segment", "tags"]].explode("tags"), "tags")
    return out


def _top5(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    counts = frame.groupby(["segment", column]).size().rename("n").reset_index()
    counts["share"] = counts["n"] / counts.groupby("segment")["n"].transform("sum")
    counts = counts.sort_values(["segment", "n", column], ascending=[True, False, True])
    return counts.groupby("segment").head(5)


def duckdb_profile(df: pd.DataFrame) -> dict[str, object]:
    """The same stats in hand-written DuckDB SQL."""
    con = duckdb.connect()
    con.register("t", df)
    numeric = ", ".join(
        f"count({c}), count(*) - count({c}), avg({c}), stddev_samp({c}), min({c}), max({c}), "
        f"quantile_cont({c}, [0.05, 0.5, 0.95]), count(DISTINCT {c})"
        for c in NUMERIC
    )
    out: dict[str, object] = {
        "scalars": con.execute(
            f"SELECT GROUPING(segment) AS gid, segment, count(*) AS rows, {numeric}, count(category), "
            "count(DISTINCT category), count(tags) FROM t GROUP BY GROUPING SETS ((segment), ())"
        ).df()
    }
    for column, value in (("category", "category"), ("tags", "unnest(tags)")):
        out[column] = con.execute(
            f"WITH src AS (SELECT segment, {value} AS v FROM t), "
            "c AS (SELECT GROUPING(segment) AS gid, segment, v, count(*) AS n FROM src WHERE v IS NOT NULL "
            "GROUP BY GROUPING SETS ((segment, v), (v))), "
            "r AS (SELECT *, row_number() OVER (PARTITION BY gid, segment ORDER BY n DESC, v) AS rank, "
            "n / sum(n) OVER (PARTITION BY gid, segment) AS share FROM c) SELECT * FROM r WHERE rank <= 5"
        ).df()
    con.close()
    return out


def spec_profile(df: object) -> pd.DataFrame:
    return compute_profile(df, SPEC, ts=TS)


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def check_agreement(df: pd.DataFrame) -> None:
    """Sanity check that the contenders compute the same thing (p50 of x1 overall and a top-1)."""
    points = spec_profile(df)
    overall = points[points["labels"].map(len) == 0].set_index("metric")["value"]
    assert abs(overall["x1.p50"] - df["x1"].quantile(0.5)) < 1e-9
    top = df["category"].value_counts()
    is_first = points["labels"].map(lambda labels: labels == {"value": top.index[0], "rank": "1"})
    first = points[(points["metric"] == "category.topk_count") & is_first]
    assert float(first["value"].iloc[0]) == float(top.iloc[0])


def spark_rows_per_second(rows: int, repeats: int, distinct: str) -> tuple[list[float], int]:
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as sf

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("lupus-stats-bench")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", "4g")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    ids = spark.range(rows)
    frame = ids.select(
        sf.concat(sf.lit("s"), (sf.col("id") % 5).cast("string")).alias("segment"),
        *[
            sf.when(sf.rand(i) >= 0.05, sf.round(sf.randn(10 + i) * 15 + 100, 2)).alias(c)
            for i, c in enumerate(NUMERIC)
        ],
        sf.concat(sf.lit("cat"), sf.lpad((sf.abs(sf.hash("id")) % 50).cast("string"), 2, "0")).alias("category"),
        sf.slice(
            sf.transform(
                sf.sequence(sf.lit(0), sf.lit(9)),
                lambda i: sf.concat(sf.lit("tag"), (sf.abs(sf.hash(sf.col("id"), i)) % 200).cast("string")),
            ),
            1,
            (sf.abs(sf.hash(sf.col("id"), sf.lit(-1))) % 11).cast("int"),
        ).alias("tags"),
    )
    with tempfile.TemporaryDirectory(prefix="lupus-stats-bench-") as tmp:
        path = os.path.join(tmp, "data.parquet")
        frame.write.parquet(path)
        data = spark.read.parquet(path)
        spec = SPEC.model_copy(update={"spark": SPEC.spark.model_copy(update={"distinct": distinct})})
        times = timed(lambda: compute_profile(data, spec, ts=TS), repeats)
    spark.stop()
    return times, rows


def compare_pandas_side(rows: int, repeats: int, pandas_repeats: int, *, arrow_dtypes: bool) -> None:
    start = time.perf_counter()
    df = make_frame(rows, arrow_dtypes=arrow_dtypes)
    dtypes = "Arrow" if arrow_dtypes else "numpy/object"
    print(f"data: {rows:,} rows ({dtypes} dtypes) built in {time.perf_counter() - start:.1f} s")
    check_agreement(df.head(200_000))
    contenders = {"spec (DuckDB engine)": spec_profile, "hand-written DuckDB SQL": duckdb_profile,
                  "hand-written pandas": pandas_profile}  # fmt: skip
    times: dict[str, list[float]] = {name: [] for name in contenders}
    # Round-robin, so that load from other jobs on the shared machine hits every contender alike.
    for round_ in range(repeats):
        for name, fn in contenders.items():
            if name == "hand-written pandas" and round_ >= pandas_repeats:
                continue
            times[name] += timed(lambda fn=fn: fn(df), 1)
            print(f"  round {round_ + 1}: {name} {times[name][-1]:.2f} s", flush=True)
    results = {name: statistics.median(t) for name, t in times.items()}
    for name, median in results.items():
        print(f"{name:26s} median {median:7.2f} s   runs: {', '.join(f'{t:.2f}' for t in times[name])}")
    spec = results["spec (DuckDB engine)"]
    print(f"speed-up over pandas:        {results['hand-written pandas'] / spec:5.2f}x  (goal >= 3x)")
    print(
        f"overhead over DuckDB SQL:    {spec / results['hand-written DuckDB SQL']:5.2f}x  (goal <= 1.30x)", flush=True
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="0 skips the pandas-side comparison")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pandas-repeats", type=int, default=3, help="pandas is slow: fewer runs of it, if needed")
    parser.add_argument("--numpy-dtypes", action="store_true", help="object strings and arrays instead of Arrow dtypes")
    parser.add_argument("--spark-rows", type=int, default=20_000_000, help="0 skips the Spark run")
    parser.add_argument("--spark-repeats", type=int, default=1)
    parser.add_argument("--spark-distinct", choices=["approx", "exact"], default="approx",
                        help="distinct_count on Spark: exact count(DISTINCT) is several times slower")  # fmt: skip
    args = parser.parse_args()

    if args.rows:
        compare_pandas_side(args.rows, args.repeats, args.pandas_repeats, arrow_dtypes=not args.numpy_dtypes)
    if args.spark_rows:
        times, rows = spark_rows_per_second(args.spark_rows, args.spark_repeats, args.spark_distinct)
        median = statistics.median(times)
        print(f"Spark local[2], {args.spark_distinct} distinct, {rows:,} rows from Parquet: median {median:.1f} s "
              f"-> {rows / median:,.0f} rows/s   runs: {', '.join(f'{t:.1f}' for t in times)}")  # fmt: skip


if __name__ == "__main__":
    main()
