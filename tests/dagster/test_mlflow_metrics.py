"""Importing MLflow run metric histories through the mlflow_metrics asset, against a real tracking server."""

import time

import dagster as dg
import mlflow
import pytest

from lupus_dagster.assets.mlflow_metrics import build_mlflow_asset
from lupus_dagster.product_spec import ProductSpec
from lupus_dagster.resources.mlflow import MlflowResource
from lupus_dagster.resources.store import MetricStoreResource
from lupus_metrics.errors import LupusValidationError
from lupus_metrics.mlflow_import import import_metric_histories
from lupus_store import MetricStore

pytestmark = pytest.mark.slow


def spec(experiment: str) -> ProductSpec:
    return ProductSpec.model_validate({
        "product": "ranker", "team": "recsys", "datasource": "ranker", "partitions": {"start": "2026-01-01"},
        "source": {"parquet": "unused/{date}.parquet"}, "mlflow": {"experiment": experiment, "metrics": ["val_ndcg"]},
    })  # fmt: skip


def log_runs(url: str, experiment: str) -> dict[str, list[float]]:
    client = mlflow.MlflowClient(url)
    experiment_id = client.create_experiment(experiment)
    logged = {}
    for name, values in (("baseline", [0.30, 0.31, 0.33]), ("candidate", [0.32, 0.36])):
        run = client.create_run(experiment_id, run_name=name)
        now = int(time.time() * 1000)
        for step, value in enumerate(values):
            client.log_metric(run.info.run_id, "val_ndcg", value, timestamp=now + step * 1000, step=step)
            client.log_metric(run.info.run_id, "train_loss", 1.0 - value, timestamp=now + step * 1000, step=step)
        client.set_terminated(run.info.run_id)
        logged[name] = values
    return logged


def test_mlflow_asset_imports_every_logged_value_of_the_chosen_metrics(mlflow_server, tmp_path):
    logged = log_runs(mlflow_server.url, "ranker-training")
    result = dg.materialize(
        [build_mlflow_asset(spec("ranker-training"))],
        resources={
            "store": MetricStoreResource(root=str(tmp_path)),
            "mlflow": MlflowResource(tracking_uri=mlflow_server.url),
        },
    )
    assert result.success
    points = MetricStore(tmp_path).read_points("ranker")
    assert set(points["metric"]) == {"mlflow.val_ndcg"}  # train_loss was not asked for
    by_run = {
        run: g.sort_values("ts")["value"].tolist()
        for run, g in points.groupby(points["labels"].map(lambda x: x["run"]))
    }
    assert by_run == logged
    materialization = result.asset_materializations_for_node("ranker__mlflow_metrics")[0]
    assert materialization.metadata["points"].value == 5 and materialization.metadata["runs"].value == 2


def test_unknown_experiment_is_a_clear_error(mlflow_server):
    with pytest.raises(LupusValidationError, match="no MLflow experiment"):
        import_metric_histories(mlflow.MlflowClient(mlflow_server.url), "does-not-exist")
