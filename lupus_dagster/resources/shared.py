"""The resources every Lupus asset, check, sensor and job may use, keyed by name."""

from __future__ import annotations

from typing import Any

from lupus_dagster.resources.metadata import MetadataResource
from lupus_dagster.resources.mlflow import MlflowResource
from lupus_dagster.resources.store import MetricStoreResource


def shared_resources() -> dict[str, Any]:
    """``store``, ``pyspark`` (Spark-table sources), ``s3`` (product sources on S3), ``mlflow``, ``metadata`` (alert state)."""
    resources: dict[str, Any] = {"store": MetricStoreResource()}
    from dagster_aws.s3 import S3Resource
    from dagster_pyspark import PySparkResource

    # Fields left unset fall back to the environment (LUPUS_S3_ENDPOINT_URL, AWS_*), as the store's S3 does.
    resources["s3"] = S3Resource()
    resources["pyspark"] = PySparkResource(spark_config={"spark.master": "local[*]", "spark.ui.enabled": "false"})
    resources["mlflow"] = MlflowResource()
    resources["metadata"] = MetadataResource()
    return resources
