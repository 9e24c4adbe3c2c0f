"""Every kind of product source gives the same points (value, n, stderr) on the DuckDB, pandas and Spark
paths; the same partition on an S3-compatible server gives the points of local files; and on the DuckDB
path the day's rows never come into pandas (only aggregates do)."""

from __future__ import annotations

import math
import os
from datetime import date, timedelta
from pathlib import Path

import boto3
import numpy as np
import pandas as pd
import pytest
import sqlalchemy

from lupus_dagster.assets.product_points import compute_day_points, select_columns
from lupus_dagster.assets.sources import DaySources
from lupus_dagster.product_spec import ProductSpec, SourceSpec
from lupus_metrics.sql import tables as tables_module
from lupus_metrics.stats import duckdb_engine

DAY = date(2026, 3, 2)
DAYS = (DAY - timedelta(days=1), DAY)
TS = pd.Timestamp(DAY, tz="UTC")

PREDICTIONS = {
    "product": "parity_predictions", "team": "t", "datasource": "parity-predictions",
    "partitions": {"start": "2026-01-01"}, "source": {"python": "unused:unused"},
    "profile": {
        "group_by": ["region"],
        "columns": {"score": ["count", "null_rate", "mean", "std", "min", "max", "zero_rate", "distinct_count"],
                    "segment": ["count", "null_rate", "distinct_count", "topk:3", "other_share"]},
    },
    "evaluate": [
        {"classification": {"y_true": "label", "y_pred": "predicted", "group_by": ["region"]}},
        {"regression": {"y_true": "sold", "y_pred": "forecast"}},
    ],
    "drift": [{"columns": ["score", "segment"], "methods": ["psi", "js", "ks", "wasserstein", "chi2"]}],
    "churn": {"key": "user_id", "prediction": "segment", "version": "model_version"},
}  # fmt: skip
RECOMMENDER = {
    "product": "parity_recommender", "team": "t", "datasource": "parity-recommender",
    "partitions": {"start": "2026-01-01"}, "source": {"python": "unused:unused"},
    "evaluate": [{"ranking": {"recommendations": {"user": "uid", "item": "item", "score": "score"},
                              "relevance": {"source": {"python": "unused:unused"},
                                            "columns": {"user": "uid", "item": "item", "relevance": "clicked"}},
                              "k": [3, 5]}}],
}  # fmt: skip


def predictions(day: date, n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(day.toordinal())
    label = rng.choice(["a", "b", "c"], n)
    sold = np.round(rng.gamma(3.0, 10.0, n), 1)
    score = np.round(rng.normal(0.3 * (day == DAY), 1.0, n), 1)  # rounding makes ties and zeros
    score[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame({
        "user_id": rng.permutation(n + 50)[:n], "region": rng.choice(["JP", "US", "EU"], n),
        "segment": rng.choice(["new", "loyal", "lapsed", "vip"], n, p=[0.4, 0.3, 0.2, 0.1]), "score": score,
        "label": label, "predicted": np.where(rng.random(n) < 0.7, label, rng.choice(["a", "b", "c"], n)),
        "sold": sold, "forecast": np.round(sold + rng.normal(0, 3, n), 1),
        "model_version": np.full(n, "v1" if day < DAY else "v2"),
    })  # fmt: skip


def recommendations(day: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(day.toordinal() + 1)
    recs = pd.DataFrame(
        {"uid": np.repeat(np.arange(80), 6), "item": rng.integers(0, 40, 480), "score": rng.random(480)}
    )
    recs = recs.drop_duplicates(["uid", "item"]).reset_index(drop=True)
    rel = pd.DataFrame(
        {"uid": rng.integers(0, 90, 300), "item": rng.integers(0, 40, 300), "clicked": rng.integers(0, 3, 300)}
    )
    return recs, rel.drop_duplicates(["uid", "item"]).reset_index(drop=True)


FRAMES = {
    "predictions": {d: predictions(d) for d in DAYS},
    "recs": {d: recommendations(d)[0] for d in DAYS},
    "clicks": {d: recommendations(d)[1] for d in DAYS},
}


def python_source(table: str):
    def load(day: date) -> pd.DataFrame | None:
        return FRAMES[table].get(day)

    return load


predictions_day = python_source("predictions")
recs_day = python_source("recs")
clicks_day = python_source("clicks")
CALLABLES = {"predictions": "predictions_day", "recs": "recs_day", "clicks": "clicks_day"}


def write_sources(root: Path, kind: str, spark=None) -> dict[str, SourceSpec]:
    """The three tables of both days as sources of ``kind``."""
    specs = {}
    if kind == "sql":
        url = f"sqlite:///{root / 'source.db'}"
        engine = sqlalchemy.create_engine(url)
    for table, by_day in FRAMES.items():
        if kind in ("parquet", "csv"):
            for day, frame in by_day.items():
                folder = root / table / f"date={day}"
                folder.mkdir(parents=True, exist_ok=True)
                half = len(frame) // 2  # two files per day
                for i, part in enumerate((frame.iloc[:half], frame.iloc[half:])):
                    if kind == "parquet":
                        part.to_parquet(folder / f"part-{i}.parquet")
                    else:
                        part.to_csv(folder / f"part-{i}.csv", index=False)
            specs[table] = SourceSpec(**{kind: f"{root}/{table}/date={{date}}/*.{kind}"})
        elif kind == "sql":
            pd.concat([f.assign(day=d.isoformat()) for d, f in by_day.items()]).to_sql(table, engine, index=False)
            specs[table] = SourceSpec(sql=f"SELECT * FROM {table} WHERE day = :date", sql_url_env="PARITY_DB_URL")
        elif kind == "python":
            specs[table] = SourceSpec(python=f"{__name__}:{CALLABLES[table]}")
        else:  # spark_table
            from pyspark.sql import functions as sf

            frame = pd.concat([f.assign(day=pd.Timestamp(d)) for d, f in by_day.items()], ignore_index=True)
            table_frame = spark.createDataFrame(frame).withColumn("day", sf.to_date("day"))
            table_frame.createOrReplaceTempView(f"parity_{table}")
            specs[table] = SourceSpec(spark_table=f"parity_{table}", spark_date_column="day")
    return specs


def day_points(spec: dict, sources: DaySources, specs: dict[str, SourceSpec], engine: str, main: str) -> pd.DataFrame:
    product = ProductSpec.model_validate(spec)
    data = sources.read(specs[main], DAY, engine=engine)
    result = compute_day_points(
        product, data, day=DAY, ts=TS,
        previous=lambda: sources.optional(specs[main], DAY - timedelta(days=1), engine=engine),
        reference=lambda start, end: None,
        relevance=lambda task: select_columns(sources.read(specs["clicks"], DAY, engine=engine),
                                              {"user": "uid", "item": "item", "relevance": "clicked"}),
        files=sources.files_of(data),  # as the assets pass it
    )  # fmt: skip
    return result.points


def pandas_points(spec: dict, main: str, frames: dict[str, dict[date, pd.DataFrame]]) -> pd.DataFrame:
    """The pandas path: the day's rows as pandas DataFrames, handed over as they are."""
    product = ProductSpec.model_validate(spec)
    result = compute_day_points(
        product, frames[main][DAY], day=DAY, ts=TS,
        previous=lambda: frames[main][DAY - timedelta(days=1)], reference=lambda start, end: None,
        relevance=lambda task: select_columns(frames["clicks"][DAY], {"user": "uid", "item": "item", "relevance": "clicked"}),
    )  # fmt: skip
    return result.points


def keyed(points: pd.DataFrame) -> dict[tuple, tuple[float, float, float]]:
    return {(m, tuple(sorted(labels.items()))): (v, n, e)
            for m, labels, v, n, e in zip(points["metric"], points["labels"], points["value"], points["n"], points["stderr"],
                                          strict=True)}  # fmt: skip


def assert_same_points(expected: pd.DataFrame, got: pd.DataFrame, what: str) -> None:
    want, have = keyed(expected), keyed(got)
    assert set(want) == set(have), (what, set(want) ^ set(have))
    for key, triple in want.items():
        for a, b in zip(triple, have[key], strict=True):
            assert (math.isnan(a) and math.isnan(b)) or b == pytest.approx(a, rel=1e-9, abs=1e-12), (
                what,
                key,
                triple,
                have[key],
            )


@pytest.fixture(scope="module")
def reference() -> dict[str, pd.DataFrame]:
    """The points of the pandas path on the frames themselves."""
    return {
        "predictions": pandas_points(PREDICTIONS, "predictions", FRAMES),
        "recs": pandas_points(RECOMMENDER, "recs", FRAMES),
    }


def read_back(kind: str, specs: dict[str, SourceSpec]) -> dict[str, dict[date, pd.DataFrame]]:
    """What a pandas user of the same source reads: the files or query, into pandas."""
    out: dict[str, dict[date, pd.DataFrame]] = {}
    for table, spec in specs.items():
        out[table] = {}
        for day in DAYS:
            if kind in ("parquet", "csv"):
                files = sorted(Path(spec.parquet or spec.csv).parent.parent.glob(f"date={day}/*.{kind}"))
                read = pd.read_parquet if kind == "parquet" else pd.read_csv
                out[table][day] = pd.concat([read(f) for f in files], ignore_index=True)
            else:
                with sqlalchemy.create_engine(os.environ["PARITY_DB_URL"]).connect() as connection:
                    out[table][day] = pd.read_sql(
                        sqlalchemy.text(spec.sql), connection, params={"date": day.isoformat()}
                    )
    return out


@pytest.mark.parametrize("kind", ["parquet", "csv", "sql", "python"])
def test_duckdb_and_pandas_paths_of_every_file_sql_and_python_source_agree(kind, reference, tmp_path, monkeypatch):
    monkeypatch.setenv("PARITY_DB_URL", f"sqlite:///{tmp_path / 'source.db'}")
    specs = write_sources(tmp_path, kind)
    with DaySources() as sources:
        for spec, main in ((PREDICTIONS, "predictions"), (RECOMMENDER, "recs")):
            assert_same_points(
                reference[main], day_points(spec, sources, specs, "duckdb", main), f"{kind} duckdb {main}"
            )
    if kind != "python":
        frames = read_back(kind, specs)
        for spec, main in ((PREDICTIONS, "predictions"), (RECOMMENDER, "recs")):
            assert_same_points(reference[main], pandas_points(spec, main, frames), f"{kind} pandas {main}")


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["parquet", "csv", "sql", "python", "spark_table"])
def test_the_spark_path_of_every_source_kind_agrees(kind, reference, spark, tmp_path, monkeypatch):
    monkeypatch.setenv("PARITY_DB_URL", f"sqlite:///{tmp_path / 'source.db'}")
    specs = write_sources(tmp_path, kind, spark)
    with DaySources(spark=spark) as sources:
        for spec, main in ((PREDICTIONS, "predictions"), (RECOMMENDER, "recs")):
            assert_same_points(reference[main], day_points(spec, sources, specs, "spark", main), f"{kind} spark {main}")
    if kind == "spark_table":
        # The same Spark tables handed to the DuckDB path as pandas frames, as a Spark user might.
        frames = {
            t: {d: spark.table(f"parity_{t}").where(f"day = '{d}'").drop("day").toPandas() for d in DAYS}
            for t in FRAMES
        }
        for spec, main in ((PREDICTIONS, "predictions"), (RECOMMENDER, "recs")):
            assert_same_points(reference[main], pandas_points(spec, main, frames), f"spark table as pandas {main}")


@pytest.mark.s3
def test_a_partition_on_s3_gives_the_points_of_local_files(s3_server, tmp_path):
    specs = write_sources(tmp_path, "parquet")
    bucket = s3_server.create_bucket()
    client = boto3.client("s3", endpoint_url=s3_server.endpoint, aws_access_key_id="lupus-test",
                          aws_secret_access_key="lupus-test-secret", region_name="us-east-1")  # fmt: skip
    for path in tmp_path.rglob("*.parquet"):
        client.upload_file(str(path), bucket, f"lake/{path.relative_to(tmp_path)}")
    on_s3 = {t: SourceSpec(parquet=f"s3://{bucket}/lake/{t}/date={{date}}/*.parquet") for t in specs}
    with DaySources() as local, DaySources(storage_options=s3_server.storage_options()) as remote:
        for spec, main in ((PREDICTIONS, "predictions"), (RECOMMENDER, "recs")):
            expected = day_points(spec, local, specs, "duckdb", main)
            got = day_points(spec, remote, on_s3, "duckdb", main)
            assert len(got) > 20
            assert_same_points(expected, got, f"s3 {main}")


def test_on_the_duckdb_path_only_aggregates_come_into_pandas(tmp_path, monkeypatch):
    big = {d: pd.concat([predictions(d, 4000)] * 5, ignore_index=True).assign(user_id=lambda f: np.arange(len(f)))
           for d in DAYS}  # fmt: skip
    monkeypatch.setitem(FRAMES, "predictions", big)
    specs = write_sources(tmp_path, "parquet")
    fetched: list[int] = []
    for owner, name in ((tables_module._DuckDBRelations, "query"), (duckdb_engine.DuckDBEngine, "_query")):
        original = getattr(owner, name)

        def spy(self, sql, original=original):
            result = original(self, sql)
            fetched.append(len(result))
            return result

        monkeypatch.setattr(owner, name, spy)
    monkeypatch.setattr(
        pd, "read_parquet", lambda *a, **k: pytest.fail("the DuckDB path must not read files into pandas")
    )
    with DaySources() as sources:
        points = day_points(PREDICTIONS, sources, specs, "duckdb", "predictions")
    rows = points.loc[(points["metric"] == "rows.count") & (points["labels"] == {}), "value"].item()
    assert rows == 20_000
    assert fetched and max(fetched) <= 100, fetched  # group x label cells, at most


TAGGED = {
    "product": "parity_tagged", "team": "t", "datasource": "parity-tagged",
    "partitions": {"start": "2026-01-01"}, "source": {"python": "unused:unused"},
    "profile": {"group_by": ["region"],
                "columns": {"tags": ["count", "null_rate", "topk:4", "other_share"],
                            "score": ["mean", "std", "p50", "p95", "distinct_count"],
                            "kind": ["count", "distinct_count", "topk:2"], "clicks": ["p50", "max", "zero_rate"]}},
}  # fmt: skip


def tagged(n: int = 600) -> pd.DataFrame:
    """A list column with null lists, empty lists and null elements, and null groups."""
    rng = np.random.default_rng(7)
    vocabulary = np.array(["news", "sport", "Sport", "été", "", "games", "tech"], dtype=object)
    tags = [list(vocabulary[rng.zipf(1.6, rng.integers(0, 6)) % len(vocabulary)]) for _ in range(n)]
    for i in rng.choice(n, 40, replace=False):
        tags[i] = None
    for i in rng.choice(n, 30, replace=False):
        if tags[i]:
            tags[i][0] = None
    region = rng.choice(np.array(["JP", "US", None], dtype=object), n, p=[0.5, 0.4, 0.1])
    score = np.round(rng.random(n), 2)
    score[rng.choice(n, 25, replace=False)] = np.nan
    kind = rng.choice(np.array(["a", "b", "", None], dtype=object), n)
    clicks = pd.array(rng.integers(0, 4, n), dtype="Int64")
    clicks[rng.choice(n, 20, replace=False)] = pd.NA
    return pd.DataFrame({"region": region, "tags": tags, "score": score, "kind": kind, "clicks": clicks})


def write_tagged(root: Path) -> dict[str, SourceSpec]:
    """The tagged day as two Parquet files: small row groups, and one file without dictionary encoding."""
    folder = root / "tagged" / f"date={DAY}"
    folder.mkdir(parents=True)
    TAGGED_FRAME.iloc[:250].to_parquet(folder / "part-0.parquet", row_group_size=64)
    TAGGED_FRAME.iloc[250:].to_parquet(folder / "part-1.parquet", use_dictionary=False)
    return {"tagged": SourceSpec(parquet=f"{root}/tagged/date={{date}}/*.parquet")}


TAGGED_FRAME = tagged()


def test_columns_of_parquet_files_counted_from_the_files_give_the_pandas_points(tmp_path, file_counts):
    """Lists and texts from their dictionary codes, numbers hashed: the points of the pandas path."""
    specs = write_tagged(tmp_path)
    counted = file_counts
    expected = pandas_points(TAGGED, "tagged", {"tagged": {DAY: TAGGED_FRAME}})
    assert len(expected) > 30
    with DaySources() as sources:
        assert_same_points(expected, day_points(TAGGED, sources, specs, "duckdb", "tagged"), "dictionary codes")
    # counted from the files, not handed back to SQL
    assert (
        len(counted) == 1
        and set(counted[0].texts) == {"tags", "kind"}
        and set(counted[0].numbers) == {"score", "clicks"}
    )


@pytest.mark.spark
@pytest.mark.slow
def test_list_columns_of_parquet_files_give_the_same_points_on_spark(spark, tmp_path):
    specs = write_tagged(tmp_path)
    # Spark's quantiles are percentile_approx by definition (docs/stats.md): the other stats must agree.
    columns = {c: [s for s in stats if not s.startswith("p")] for c, stats in TAGGED["profile"]["columns"].items()}
    product = {**TAGGED, "profile": {**TAGGED["profile"], "columns": columns}}
    expected = pandas_points(product, "tagged", {"tagged": {DAY: TAGGED_FRAME}})
    with DaySources(spark=spark) as sources:
        assert_same_points(expected, day_points(product, sources, specs, "spark", "tagged"), "spark")
