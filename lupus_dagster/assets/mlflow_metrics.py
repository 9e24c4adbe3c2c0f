"""`[<product>, "mlflow_metrics"]`: run metric histories of the product's MLflow experiment, into the store."""

import dagster as dg

from lupus_dagster.product_spec import ProductSpec
from lupus_metrics.mlflow_import import import_metric_histories


def build_mlflow_asset(spec: ProductSpec) -> dg.AssetsDefinition:
    """One unpartitioned asset; each day that has MLflow values is rewritten whole (writer `<product>-mlflow`)."""

    @dg.asset(
        key=[spec.product, "mlflow_metrics"],
        group_name=spec.product,
        owners=[f"team:{spec.team}"],
        kinds={"mlflow", "parquet"},
        required_resource_keys={"store", "mlflow"},
        automation_condition=dg.AutomationCondition.on_cron(spec.partitions.cron, spec.partitions.timezone),
        description=f"Metric histories of MLflow experiment {spec.mlflow.experiment!r}.",
        metadata={"datasource": spec.datasource, "experiment": spec.mlflow.experiment},
    )
    def mlflow_metrics(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        client = context.resources.mlflow.get_client()
        points = import_metric_histories(client, spec.mlflow.experiment, metrics=spec.mlflow.metrics)
        store = context.resources.store.get_store()
        days = 0
        for day, frame in points.groupby(points["ts"].dt.date) if len(points) else []:
            store.write_points(spec.datasource, frame, day=day, writer=f"{spec.product}-mlflow", source="mlflow",
                               run_id=context.run_id)  # fmt: skip
            days += 1
        runs = points["labels"].map(lambda labels: labels["run_id"]).nunique() if len(points) else 0
        return dg.MaterializeResult(
            metadata={"datasource": spec.datasource, "points": len(points), "days": days, "runs": int(runs)}
        )

    return mlflow_metrics
