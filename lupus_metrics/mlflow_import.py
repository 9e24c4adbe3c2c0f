"""Metric histories of an MLflow experiment as Lupus metric points.

Each logged value becomes a point ``mlflow.<key>`` with labels ``run`` (the run name) and
``run_id``, at the time MLflow recorded it. Works with any ``mlflow.MlflowClient``.

Example (needs a tracking server, so not run here)::

    client = mlflow.MlflowClient("http://127.0.0.1:5000")
    points = import_metric_histories(client, "ranker-training", metrics=["val_ndcg"])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from lupus_metrics.errors import LupusValidationError

COLUMNS = ("metric", "labels", "ts", "value")


def import_metric_histories(
    client: Any,
    experiment: str,
    *,
    metrics: Sequence[str] | None = None,
    max_runs: int = 10_000,
) -> pd.DataFrame:
    """Points for every run of ``experiment`` (by name) and every metric key (or those in ``metrics``).

    When MLflow holds several values of one key at the same millisecond (different steps), the
    last one logged is kept, so each (series, ts) appears once.
    """
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise LupusValidationError("experiment", "no MLflow experiment with this name", value=experiment)
    rows: list[dict[str, Any]] = []
    for run in client.search_runs([found.experiment_id], max_results=max_runs):
        labels = {"run": run.info.run_name or run.info.run_id[:8], "run_id": run.info.run_id}
        keys = [k for k in run.data.metrics if metrics is None or k in metrics]
        for key in keys:
            for entry in client.get_metric_history(run.info.run_id, key):
                rows.append({"metric": f"mlflow.{key}", "labels": labels, "ts": entry.timestamp, "value": entry.value,
                             "step": entry.step})  # fmt: skip
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS})
    frame = pd.DataFrame(rows)
    frame["ts"] = pd.to_datetime(frame["ts"], unit="ms", utc=True)
    frame["_run"] = frame["labels"].map(lambda labels: labels["run_id"])
    frame = frame.sort_values(["metric", "_run", "ts", "step"]).drop_duplicates(["metric", "_run", "ts"], keep="last")
    return frame[list(COLUMNS)].reset_index(drop=True)
