"""The resources every Lupus asset, check, sensor and job may use, keyed by name."""

from __future__ import annotations

from typing import Any

from lupus_dagster.resources.metadata import MetadataResource
from lupus_dagster.resources.mlflow import MlflowResource
from lupus_dagster.resources.store import MetricStoreResource


def shared_resources() -> dict[str, Any]:
    """``store``, ``pyspark`` (Spark-table sources), ``mlflow``, ``metadata`` (alert state)."""
    resources: dict[str, Any] = {"store": MetricStoreResource()}
    from dagster_pyspark import PySparkResource

    resources["pyspark"] = PySparkResource(spark_config={"spark.master": "local[*]", "spark.ui.enabled": "false"})
    resources["mlflow"] = MlflowResource()
    resources["metadata"] = MetadataResource()
    return resources
