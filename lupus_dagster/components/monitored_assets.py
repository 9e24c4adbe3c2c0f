"""`MonitoredAssets`: anomaly detection on the materialization metadata of any Dagster asset (opt-in).

    # lupus_dagster/defs/monitors/warehouse/defs.yaml   (or $LUPUS_MONITORS_DIR/<name>/defs.yaml)
    type: lupus_dagster.components.MonitoredAssets
    attributes:
      name: warehouse
      team: data
      datasource: warehouse-assets
      selection: "group:warehouse or tag:monitor=lupus"   # Dagster's asset selection grammar
      metadata: ["dagster/row_count", "null_*"]           # default: every int/float entry
      alerts: {slack_webhook_env: LUPUS_SLACK_DATA}

Builds the ``<name>_asset_monitor`` sensor (metadata -> points, see
:mod:`lupus_dagster.monitoring.sensor`), the daily-partitioned ``[<name>, "anomalies"]`` asset
(the same detection as a product's, ``auto`` for a rule without ``detector:``) and the
``<name>_alerts`` sensor (the same alert path as a product's).

Example:
    >>> spec = MonitorSpec.model_validate({"name": "wh", "team": "data", "datasource": "wh-assets",
    ...                                    "selection": "group:warehouse"})
    >>> defs = MonitoredAssets(spec).build_defs()
    >>> sorted(s.name for s in defs.sensors), [a.key.to_user_string() for a in defs.assets]
    (['wh_alerts', 'wh_asset_monitor'], ['wh/anomalies'])
"""

from __future__ import annotations

import re
import warnings
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import BaseModel, ConfigDict, Field, field_validator

from lupus_dagster.assets.anomalies import build_anomalies_asset
from lupus_dagster.monitoring.catalog import parse_selection
from lupus_dagster.monitoring.sensor import build_monitor_sensor
from lupus_dagster.product_spec import AlertsSpec
from lupus_dagster.resources.notifier import AlertChannel
from lupus_dagster.sensors.alerts import build_alert_sensor
from lupus_metrics.detectors.registry import DetectorRule, rules_from_config
from lupus_metrics.schema import validate_datasource
from lupus_store.config import lupus_home

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class MonitorSpec(BaseModel):
    """A monitored selection of Dagster assets (one datasource)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Asset key prefix and sensor name prefix: lowercase letters, digits, '_'.")
    team: str = Field(description="Owning team (asset owners, permissions).")
    datasource: str = Field(description="Datasource the points are stored under.")
    selection: str = Field(description="Dagster asset selection string, e.g. 'group:warehouse', 'tag:tier=gold'.")
    metadata: list[str] = Field(default_factory=lambda: ["*"], min_length=1, description="Metadata key globs.")
    detect: list[DetectorRule] = Field(default_factory=lambda: rules_from_config([{"metrics": ["*"]}]))
    lookback_days: int = Field(default=120, ge=1, description="History the detectors see.")
    start: date = Field(default=date(2024, 1, 1), description="First day of the anomalies partitions.")
    alerts: AlertsSpec = Field(default_factory=AlertsSpec)
    minimum_interval_seconds: int = Field(default=60, ge=5, description="How often the monitor sensor looks.")
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must be 1-63 characters of a-z, 0-9, '_', starting with a letter")
        return value

    @field_validator("datasource")
    @classmethod
    def _datasource(cls, value: str) -> str:
        return validate_datasource(value)

    @field_validator("selection")
    @classmethod
    def _selection(cls, value: str) -> str:
        parse_selection(value)
        return value

    @field_validator("detect", mode="before")
    @classmethod
    def _rules(cls, value: Any) -> Any:
        return rules_from_config(value) if isinstance(value, list) else value


class MonitoredAssets(dg.Component):
    """One YAML file -> monitor sensor, anomalies asset and alert sensor for a selection of assets."""

    def __init__(self, spec: MonitorSpec):
        self.spec = spec

    @classmethod
    def load(cls, attributes: Any, context: Any) -> MonitoredAssets:
        data = attributes.model_dump() if hasattr(attributes, "model_dump") else attributes
        return cls(MonitorSpec.model_validate(data))

    def build_defs(self, context: Any = None) -> dg.Definitions:
        spec = self.spec
        partitions = dg.DailyPartitionsDefinition(start_date=spec.start.isoformat(), end_offset=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # backfill_policy is "beta" in Dagster 1.13
            anomalies = build_anomalies_asset(
                key=dg.AssetKey([spec.name, "anomalies"]),
                datasource=spec.datasource,
                rules=spec.detect,
                lookback_days=spec.lookback_days,
                partitions=partitions,
                backfill_policy=dg.BackfillPolicy.single_run(),
                writer=f"{spec.name}-anomalies",
                group_name=spec.name,
                owners=[f"team:{spec.team}"],
                description=spec.description or f"Detector verdicts on the metadata of `{spec.selection}`.",
            )
        monitor = build_monitor_sensor(
            name=spec.name,
            datasource=spec.datasource,
            selection=spec.selection,
            metadata_keys=spec.metadata,
            anomalies=anomalies,
            partitions=partitions,
            minimum_interval_seconds=spec.minimum_interval_seconds,
        )
        settings = {k: v for k, v in spec.alerts.model_dump().items() if k != "slack_webhook_env"}
        if settings.get("path") and not Path(settings["path"]).is_absolute():
            settings["path"] = str(lupus_home() / settings["path"])
        alerts = build_alert_sensor(product=spec.name, datasource=spec.datasource, channel=AlertChannel(**settings))
        return dg.Definitions(assets=[anomalies], sensors=[monitor, alerts])
