"""`lupus_detection_request`: detection over a range, on request (the REST API launches it).

(No `from __future__ import annotations` here: Dagster reads the op's annotations at runtime.)

Run config (what `POST /api/v1/datasources/{ds}/detections` submits through Dagster's GraphQL):

    ops:
      detection_request:
        config:
          datasource: service1-recommend
          start: "2026-01-01"
          end: "2026-01-31"
          rules_json: '[{"metrics": ["rows.count"], "detector": {"kind": "window", "window": 14}}]'
          lookback_days: 120
"""

import json

import dagster as dg

from lupus_dagster.resources.store import MetricStoreResource
from lupus_metrics.detectors.registry import rules_from_config
from lupus_store.detection import detect_and_store

JOB_NAME = "lupus_detection_request"


class DetectionRequestConfig(dg.Config):
    datasource: str
    start: str
    end: str
    rules_json: str
    lookback_days: int = 120


@dg.op(description="Run the requested detector rules over stored history and store the verdicts.")
def detection_request(
    context: dg.OpExecutionContext, config: DetectionRequestConfig, store: MetricStoreResource
) -> dict:
    try:
        rules = rules_from_config(json.loads(config.rules_json))
    except (ValueError, TypeError) as err:  # a bad request fails the run at once, naming the field
        raise dg.Failure(description=f"invalid rules_json: {err}") from err
    report = detect_and_store(
        store.get_store(),
        config.datasource,
        rules,
        start=config.start,
        end=config.end,
        writer=f"request-{context.run_id[:12]}",
        lookback_days=config.lookback_days,
        run_id=context.run_id,
        workers=1,
    )
    for error in report.errors:
        context.log.warning(f"series failed: {error}")
    context.add_output_metadata(
        {"evaluated": report.evaluated, "anomalies": report.anomalies, "by_metric": report.by_metric}
    )
    return {"evaluated": report.evaluated, "anomalies": report.anomalies, "errors": len(report.errors)}


@dg.job(name=JOB_NAME, description="Anomaly detection over a range of a datasource, requested through the API.")
def lupus_detection_request() -> None:
    detection_request()
