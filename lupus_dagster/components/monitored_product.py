"""`MonitoredProduct`: the Dagster component behind every `defs/products/<product>/defs.yaml`.

    type: lupus_dagster.components.MonitoredProduct
    attributes:
      product: service1_recommend
      team: recsys
      datasource: service1-recommend
      ...   # see docs/products.md for every field

It builds the product's metrics asset, Great Expectations check, anomalies asset, freshness
check and alert sensor.
"""

from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field, field_validator

from lupus_dagster.assets.product_assets import build_product_assets
from lupus_dagster.product_spec import ProductSpec
from lupus_dagster.resources.notifier import AlertChannel
from lupus_dagster.sensors.alerts import build_alert_sensor
from lupus_store.config import lupus_home


class ProductAttributes(ProductSpec):
    """The JSON schema `dg check yaml` validates a `defs.yaml` against.

    `profile` and `detect` parse their own text (stats such as `topk:10`, detectors by `kind`),
    which a JSON schema cannot express; they are typed loosely here and validated in full by
    :class:`ProductSpec` when the definitions load (which `dg check defs` does next).
    """

    profile: dict[str, Any] | None = None
    detect: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("profile", mode="before")
    @classmethod
    def _profile(cls, value: Any) -> Any:
        return value

    @field_validator("detect", mode="before")
    @classmethod
    def _rules(cls, value: Any) -> Any:
        return value


class MonitoredProduct(dg.Component):
    """A monitored ML product: one reviewed YAML file -> partitioned metric assets, checks, anomalies, alerts.

    The attributes are a :class:`ProductSpec` (plain pydantic: Dagster's Resolvable models
    cannot hold dates, and the spec is also used without Dagster).
    """

    def __init__(self, spec: ProductSpec):
        self.spec = spec

    @classmethod
    def get_schema(cls) -> type[ProductSpec]:
        return ProductAttributes

    @classmethod
    def load(cls, attributes: Any, context: Any) -> "MonitoredProduct":
        data = attributes.model_dump() if hasattr(attributes, "model_dump") else attributes
        return cls(ProductSpec.model_validate(data))

    def build_defs(self, context: Any = None) -> dg.Definitions:
        built = build_product_assets(self.spec)
        checks = [b for b in built if _is_check(b)]
        assets = [b for b in built if not _is_check(b)]
        return dg.Definitions(assets=assets, asset_checks=checks, sensors=_alert_sensors(self.spec))


def _is_check(definition: Any) -> bool:
    return isinstance(definition, dg.AssetChecksDefinition)


def _alert_sensors(spec: ProductSpec) -> list[dg.SensorDefinition]:
    settings = {k: v for k, v in spec.alerts.model_dump().items() if k != "slack_webhook_env"}
    if settings.get("path") and not Path(settings["path"]).is_absolute():
        settings["path"] = str(lupus_home() / settings["path"])  # relative alert files live in LUPUS_HOME
    channel = AlertChannel(**settings)
    return [build_alert_sensor(product=spec.product, datasource=spec.datasource, channel=channel)]
