"""Reusable Dagster components of Lupus (instances live under lupus_dagster/defs/products/)."""

from lupus_dagster.components.monitored_assets import MonitoredAssets
from lupus_dagster.components.monitored_product import MonitoredProduct

__all__ = ["MonitoredAssets", "MonitoredProduct"]
