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
