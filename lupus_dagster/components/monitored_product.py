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

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field, field_validator

from lupus_dagster.assets.product_assets import build_product_assets
from lupus_dagster.product_spec import ProductSpec
from lupus_dagster.resources.routing import TeamRoute, load_teams, teams_file
from lupus_dagster.sensors.alerts import build_alert_sensor
from lupus_dagster.sensors.policy import AlertPolicy

DEFAULT_PRODUCTS_DIR = Path(__file__).resolve().parents[1] / "defs" / "products"


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

    def __init__(self, spec: ProductSpec, teams: Mapping[str, TeamRoute] | None = None):
        self.spec = spec
        # Loaded by the product loader once for all products; a component loaded alone reads the file itself.
        self.teams = teams if teams is not None else load_teams(teams_file(DEFAULT_PRODUCTS_DIR))

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
        return dg.Definitions(assets=assets, asset_checks=checks, sensors=[self.alert_sensor()])

    def alert_sensor(self) -> dg.SensorDefinition:
        policy = AlertPolicy.from_spec(self.spec, self.teams)
        return build_alert_sensor(
            product=self.spec.product,
            datasource=self.spec.datasource,
            policy=policy,
            minimum_interval_seconds=policy.interval_seconds,
        )


def _is_check(definition: Any) -> bool:
    return isinstance(definition, dg.AssetChecksDefinition)
