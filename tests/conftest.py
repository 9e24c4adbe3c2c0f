"""Shared fixtures. Services (PostgreSQL, the S3-compatible server, Spark) are real and
started here from packages on the machine; see tests/services/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATASETS = (REPO.parent / "shared" / "datasets") if (REPO.parent / "shared" / "datasets").exists() else None


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """`../shared/datasets` next to the checkout (CI lays it there too)."""
    if DATASETS is None:
        pytest.fail("../shared/datasets is missing next to the checkout: the reference data sets are needed")
    return DATASETS


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """One local-mode SparkSession for the whole run (Java 17 is on the machine)."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", os.sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("lupus-tests")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[object]:
    """A real PostgreSQL server from Debian's binaries, on a free port, for the whole run."""
    from services.postgres_server import PostgresServer

    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[object]:
    """A real S3-compatible server (moto in server mode) on 127.0.0.1."""
    from services.s3_server import S3Server

    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def metadata_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty metadata database URL: a SQLite file, then a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'metadata.db'}"
    return request.getfixturevalue("postgres_server").create_database()


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    """An empty MetricStore on local disk, then on the S3-compatible server."""
    from lupus_store import MetricStore

    if request.param == "local":
        return MetricStore(tmp_path / "store")
    server = request.getfixturevalue("s3_server")
    return MetricStore(f"s3://{server.create_bucket()}/lupus", storage_options=server.storage_options())


@pytest.fixture(scope="session")
def opensearch_node() -> Iterator[object]:
    """A real single-node OpenSearch 2.19 (Maven Central jars, see tests/services/opensearch_node.py)."""
    from services.opensearch_node import OpenSearchNode

    node = OpenSearchNode().start()
    yield node
    node.stop()


@pytest.fixture(scope="session")
def mlflow_server() -> Iterator[object]:
    """A real MLflow tracking server with a SQLite backend on 127.0.0.1."""
    from services.mlflow_server import MlflowServer

    server = MlflowServer().start()
    yield server
    server.stop()


@pytest.fixture
def file_counts(monkeypatch) -> list:
    """What the DuckDB engine counted straight from Parquet files, one entry per profile that tried: a
    ``ColumnCounts``, or None when the files could not be counted. Tiny test files are counted all the same
    (``MIN_ROWS`` 0; the engine leaves days under 2M rows to SQL)."""
    from lupus_metrics.stats import duckdb_engine, parquet_files
    from lupus_metrics.stats.parquet_counts import PreparedCounts

    monkeypatch.setattr(parquet_files, "MIN_ROWS", 0)
    seen: list = []
    prepare, run = duckdb_engine.prepare_counts, PreparedCounts.run

    def recorded_prepare(*args, **kwargs):
        prepared = prepare(*args, **kwargs)
        if prepared is None:
            seen.append(None)
        return prepared

    def recorded_run(self, *args, **kwargs):
        seen.append(run(self, *args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(duckdb_engine, "prepare_counts", recorded_prepare)
    monkeypatch.setattr(PreparedCounts, "run", recorded_run)
    return seen
