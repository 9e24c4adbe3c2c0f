"""A product's source for a partition day: lazy DuckDB relations over files (local or S3), SQL streamed
into DuckDB, a Python callable's frame, a Spark table; clear errors when a day is missing or refused."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import boto3
import duckdb
import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy
from services.ports import free_port, wait_for_port

from lupus_dagster.assets import sources as sources_module
from lupus_dagster.assets.sources import DaySources, SourceAccessError, SourceMissingError, s3_storage_options
from lupus_dagster.product_spec import SourceSpec
from lupus_dagster.resources.executor import executor_from_env
from lupus_metrics.stats import compute_profile
from lupus_metrics.stats.parquet_files import ParquetFiles

DAY = date(2026, 2, 3)
ROWS = pd.DataFrame({"day": ["2026-02-02", "2026-02-03", "2026-02-03"], "value": [1.0, 2.0, 3.0]})


def the_day(day: date) -> pd.DataFrame:
    """A source callable for the test (referenced as 'module:function')."""
    return ROWS[ROWS["day"] == day.isoformat()].reset_index(drop=True)


def values(relation) -> list[float]:
    return sorted(v for (v,) in relation.project('"value"').fetchall())


def test_csv_files_with_a_date_placeholder_are_a_lazy_relation_relative_to_the_data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("LUPUS_DATA_ROOT", str(tmp_path))
    (tmp_path / "t" / f"date={DAY}").mkdir(parents=True)
    the_day(DAY).to_csv(tmp_path / "t" / f"date={DAY}" / "a.csv", index=False)
    with DaySources() as sources:
        relation = sources.read(SourceSpec(csv="t/date={date}/*.csv"), DAY)
        assert isinstance(relation, duckdb.DuckDBPyRelation)
        assert values(relation) == [2.0, 3.0]


def test_hive_partition_keys_of_the_paths_are_columns(tmp_path):
    for region, value in (("JP", 1.0), ("US", 2.0)):
        folder = tmp_path / f"date={DAY}" / f"region={region}"
        folder.mkdir(parents=True)
        pd.DataFrame({"value": [value]}).to_parquet(folder / "part.parquet")
    with DaySources() as sources:
        relation = sources.read(SourceSpec(parquet=f"{tmp_path}/date={{date}}/*/*.parquet"), DAY)
        assert sorted(relation.project("region, value, CAST(date AS VARCHAR)").fetchall()) == [
            ("JP", 1.0, DAY.isoformat()), ("US", 2.0, DAY.isoformat())
        ]  # fmt: skip
        flat = sources.read(SourceSpec(parquet=f"{tmp_path}/date={{date}}/*/*.parquet", hive_partitioning=False), DAY)
        assert flat.columns == ["value"]


def test_a_small_day_is_read_into_memory_once_with_the_columns_and_types_of_the_relation(tmp_path):
    for region, value in (("JP", 1.0), ("US", 2.0)):
        folder = tmp_path / f"date={DAY}" / f"region={region}"
        folder.mkdir(parents=True)
        pd.DataFrame({"value": [value], "n": [3]}).to_parquet(folder / "part.parquet")
    spec = SourceSpec(parquet=f"{tmp_path}/date={{date}}/*/*.parquet")
    size = sum(f.stat().st_size for f in tmp_path.rglob("*.parquet"))
    with DaySources() as sources:
        relation = sources.read(spec, DAY)
        table = sources.read(spec, DAY, memory_bytes=size)
        assert isinstance(table, pa.Table)
        assert table.schema == relation.arrow().read_all().schema and table.num_rows == 2
        assert sorted(table.column("region").to_pylist()) == ["JP", "US"]
        assert isinstance(sources.read(spec, DAY, memory_bytes=size - 1), duckdb.DuckDBPyRelation)  # too big: lazy


TAGGED = pd.DataFrame({
    "segment": ["a", "b", "a", None, "b", "a"],
    "tags": [["x", "y"], None, [], ["y", None], ["z", "x", "x"], ["y"]],
    "score": [0.5, float("nan"), 0.25, 1.5, None, 0.5],
})  # fmt: skip
TAGS_SPEC = {"group_by": ["segment"], "columns": {"tags": ["count", "null_rate", "topk:2", "other_share"],
                                                  "score": ["mean", "p50", "distinct_count"]}}  # fmt: skip


def test_a_parquet_day_names_its_files_and_its_list_columns_are_counted_from_them(tmp_path, file_counts):
    folder = tmp_path / f"date={DAY}"
    folder.mkdir()
    TAGGED[:3].to_parquet(folder / "a.parquet")
    TAGGED[3:].to_parquet(folder / "b.parquet")
    seen = file_counts
    spec = SourceSpec(parquet=f"{tmp_path}/date={{date}}/*.parquet")
    with DaySources() as sources:
        relation = sources.read(spec, DAY)
        files = sources.files_of(relation)
        assert files == ParquetFiles((str(folder / "a.parquet"), str(folder / "b.parquet")), None, ("date",))
        listed = compute_profile(relation, TAGS_SPEC, ts=str(DAY), files=files)
        pd.testing.assert_frame_equal(listed, compute_profile(relation, TAGS_SPEC, ts=str(DAY)))
        assert seen and "tags" in seen[0].texts and "score" in seen[0].numbers
        assert sources.files_of(sources.read(spec, DAY, memory_bytes=10**9)) is None  # read into memory
        assert sources.files_of(relation.filter("segment = 'a'")) is None  # not the scan it read
        assert sources.files_of(sources.read(SourceSpec(python=f"{__name__}:the_day"), DAY)) is None


def test_list_columns_of_a_day_on_s3_are_counted_from_its_files_with_the_points_of_local_files(
    s3_server, tmp_path, file_counts
):
    bucket = s3_server.create_bucket()
    client = boto3.client("s3", endpoint_url=s3_server.endpoint, aws_access_key_id="lupus-test",
                          aws_secret_access_key="lupus-test-secret", region_name="us-east-1")  # fmt: skip
    (tmp_path / f"date={DAY}").mkdir()
    for name, part in (("a", TAGGED[:3]), ("b", TAGGED[3:])):
        client.put_object(Bucket=bucket, Key=f"p/date={DAY}/{name}.parquet", Body=part.to_parquet())
        part.to_parquet(tmp_path / f"date={DAY}" / f"{name}.parquet")
    seen = file_counts
    profiles = []
    for pattern, options in ((f"s3://{bucket}/p/date={{date}}/*.parquet", s3_server.storage_options()),
                             (f"{tmp_path}/date={{date}}/*.parquet", {})):  # fmt: skip
        with DaySources(storage_options=options) as sources:
            relation = sources.read(SourceSpec(parquet=pattern), DAY)
            files = sources.files_of(relation)
            assert files is not None and len(files.paths) == 2
            profiles.append(compute_profile(relation, TAGS_SPEC, ts=str(DAY), files=files))
    assert len(seen) == 2 and all("tags" in counts.texts and "score" in counts.numbers for counts in seen)
    pd.testing.assert_frame_equal(profiles[0], profiles[1])


def test_several_days_read_as_one_relation_and_missing_days_are_skipped(tmp_path):
    for day in (date(2026, 2, 1), date(2026, 2, 3)):
        (tmp_path / f"date={day}").mkdir()
        pd.DataFrame({"value": [float(day.day)]}).to_parquet(tmp_path / f"date={day}" / "p.parquet")
    spec = SourceSpec(parquet=f"{tmp_path}/date={{date}}/*.parquet")
    with DaySources() as sources:
        window = sources.read(spec, [date(2026, 2, 1), date(2026, 2, 2), date(2026, 2, 3)])
        assert values(window) == [1.0, 3.0]
        assert sources.optional(spec, date(2026, 2, 2)) is None


def test_a_missing_local_day_names_the_pattern_and_the_storage(tmp_path, monkeypatch):
    monkeypatch.setenv("LUPUS_DATA_ROOT", str(tmp_path))
    with DaySources() as sources, pytest.raises(SourceMissingError) as err:
        sources.read(SourceSpec(parquet="t/date={date}/*.parquet"), DAY)
    message = str(err.value)
    assert f"no file matches {tmp_path}/t/date={DAY}/*.parquet" in message
    assert "on local disk" in message and str(tmp_path) in message and "'t/date={date}/*.parquet'" in message


def test_the_connection_never_downloads_extensions():
    with DaySources() as sources:
        settings = dict(sources.connection.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN ('autoinstall_known_extensions', 'autoload_known_extensions')"
        ).fetchall())  # fmt: skip
    assert settings == {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}


def test_a_sql_query_is_streamed_into_duckdb_in_chunks_with_the_day_bound(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'source.db'}"
    rows = pd.DataFrame({"day": ["2026-02-03"] * 25 + ["2026-02-04"], "value": [float(i) for i in range(26)]})
    rows.to_sql("facts", sqlalchemy.create_engine(url), index=False)
    monkeypatch.setenv("SHOP_DB_URL", url)
    monkeypatch.setattr(sources_module, "SQL_CHUNK_ROWS", 7)
    with DaySources() as sources:
        relation = sources.read(
            SourceSpec(sql="SELECT value FROM facts WHERE day = :date", sql_url_env="SHOP_DB_URL"), DAY
        )
        assert isinstance(relation, duckdb.DuckDBPyRelation)
        assert values(relation) == [float(i) for i in range(25)]


def test_a_sql_source_without_its_url_variable_says_which_variable(monkeypatch):
    monkeypatch.delenv("SHOP_DB_URL", raising=False)
    with DaySources() as sources, pytest.raises(SourceMissingError, match="SHOP_DB_URL"):
        sources.read(SourceSpec(sql="SELECT 1", sql_url_env="SHOP_DB_URL"), DAY)


def test_a_python_callable_gets_the_day_and_its_frame_is_registered_on_the_connection():
    with DaySources() as sources:
        relation = sources.read(SourceSpec(python=f"{__name__}:the_day"), DAY)
        assert isinstance(relation, duckdb.DuckDBPyRelation)
        assert values(relation) == [2.0, 3.0]


@pytest.mark.spark
def test_a_spark_table_is_filtered_on_its_date_column(spark):
    spark.createDataFrame(ROWS.assign(day=pd.to_datetime(ROWS["day"]).dt.date)).createOrReplaceTempView("facts")
    with DaySources(spark=spark) as sources:
        spec = SourceSpec(spark_table="facts", spark_date_column="day")
        frame = sources.read(spec, DAY, engine=sources.engine_of(spec))
        assert sorted(r["value"] for r in frame.collect()) == [2.0, 3.0]


def test_s3_options_come_from_the_environment_overridden_by_the_dagster_resource(monkeypatch):
    from dagster_aws.s3 import S3Resource

    monkeypatch.setenv("LUPUS_S3_ENDPOINT_URL", "http://env:9000")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "env-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    assert s3_storage_options()["endpoint_url"] == "http://env:9000"
    resource = S3Resource(endpoint_url="http://resource:9000", aws_access_key_id="k", aws_secret_access_key="s",
                          region_name="eu-west-1")  # fmt: skip
    options = s3_storage_options(resource)
    assert (options["endpoint_url"], options["key"], options["secret"]) == ("http://resource:9000", "k", "s")
    assert options["client_kwargs"]["region_name"] == "eu-west-1"


@pytest.mark.s3
def test_date_patterns_expand_on_s3_and_a_missing_day_names_the_bucket_and_endpoint(s3_server):
    bucket = s3_server.create_bucket()
    client = boto3.client("s3", endpoint_url=s3_server.endpoint, aws_access_key_id="lupus-test",
                          aws_secret_access_key="lupus-test-secret", region_name="us-east-1")  # fmt: skip
    for name, frame in (("a", the_day(DAY)), ("b", the_day(DAY).assign(value=[4.0, 5.0]))):
        client.put_object(Bucket=bucket, Key=f"predictions/date={DAY}/{name}.parquet", Body=frame.to_parquet())
    spec = SourceSpec(parquet=f"s3://{bucket}/predictions/date={{date}}/*.parquet")
    with DaySources(storage_options=s3_server.storage_options()) as sources:
        relation = sources.read(spec, DAY)
        assert values(relation) == [2.0, 3.0, 4.0, 5.0]
        assert relation.project("CAST(date AS VARCHAR)").fetchall()[0] == (DAY.isoformat(),)
        with pytest.raises(SourceMissingError) as err:
            sources.read(spec, date(2026, 2, 4))
    message = str(err.value)
    assert f"s3://{bucket}/predictions/date=2026-02-04/*.parquet" in message
    assert f"S3 bucket {bucket!r} at {s3_server.endpoint}" in message


@pytest.fixture
def s3_with_credentials():
    """A moto S3 server that checks credentials (after the first five calls that set it up)."""
    port = free_port()
    env = {"INITIAL_NO_AUTH_ACTION_COUNT": "5", "PATH": "/usr/bin:/bin"}
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)  # fmt: skip
    try:
        wait_for_port(port, what="moto S3 server with auth")
        endpoint = f"http://127.0.0.1:{port}"
        setup = {"endpoint_url": endpoint, "aws_access_key_id": "setup", "aws_secret_access_key": "setup",
                 "region_name": "us-east-1"}  # fmt: skip
        iam = boto3.client("iam", **setup)
        iam.create_user(UserName="reader")
        key = iam.create_access_key(UserName="reader")["AccessKey"]
        iam.put_user_policy(UserName="reader", PolicyName="read", PolicyDocument=(
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}'))  # fmt: skip
        s3 = boto3.client("s3", **setup)
        s3.create_bucket(Bucket="lake")
        s3.put_object(Bucket="lake", Key=f"t/date={DAY}/a.parquet", Body=the_day(DAY).to_parquet())
        yield endpoint, key["AccessKeyId"], key["SecretAccessKey"]
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.s3
def test_refused_credentials_are_reported_without_the_secret(s3_with_credentials):
    endpoint, key_id, secret = s3_with_credentials
    spec = SourceSpec(parquet="s3://lake/t/date={date}/*.parquet")
    good = {"endpoint_url": endpoint, "key": key_id, "secret": secret, "client_kwargs": {"region_name": "us-east-1"}}
    with DaySources(storage_options=good) as sources:
        assert values(sources.read(spec, DAY)) == [2.0, 3.0]
    wrong_secret = "not-the-secret-" + secret[:4]
    with (
        DaySources(storage_options={**good, "secret": wrong_secret}) as sources,
        pytest.raises(SourceAccessError) as err,
    ):
        sources.read(spec, DAY)
    message = str(err.value)
    assert "refused access to bucket 'lake'" in message and endpoint in message and "credentials" in message
    assert wrong_secret not in message and secret not in message


def test_the_executor_is_chosen_by_configuration(monkeypatch):
    monkeypatch.setenv("LUPUS_EXECUTOR", "k8s")
    assert executor_from_env().name == "k8s"
    monkeypatch.setenv("LUPUS_EXECUTOR", "threads")
    with pytest.raises(ValueError, match="LUPUS_EXECUTOR must be"):
        executor_from_env()
