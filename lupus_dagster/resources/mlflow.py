"""MLflow as a Dagster resource: a thin `ConfigurableResource` around `mlflow.MlflowClient`.

(`dagster-mlflow` is a legacy job-style resource, hence this one.)
"""

from __future__ import annotations

import os
from typing import Any

import dagster as dg


class MlflowResource(dg.ConfigurableResource):
    """``tracking_uri`` defaults to ``MLFLOW_TRACKING_URI``.

    >>> MlflowResource(tracking_uri="http://127.0.0.1:5000").tracking_uri
    'http://127.0.0.1:5000'
    """

    tracking_uri: str | None = None

    def get_client(self) -> Any:
        import mlflow

        uri = self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:
            raise dg.Failure(
                description="no MLflow tracking server: set MLFLOW_TRACKING_URI or the resource's tracking_uri"
            )
        return mlflow.MlflowClient(tracking_uri=uri)
