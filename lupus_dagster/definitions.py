"""The Lupus code location: `workspace.yaml` (and `dg`) load `defs` from here.

Products are folders under `defs/products/` (or `LUPUS_PRODUCTS_DIR`), one `defs.yaml` each, and
monitored selections of other Dagster assets folders under `defs/monitors/` (`LUPUS_MONITORS_DIR`);
adding one never means editing this file. Resources are defined once and shared; environments
differ by configuration (environment variables), not by forked definitions.
"""

import os
from pathlib import Path

import dagster as dg

from lupus_dagster.components.monitor_loader import monitor_definitions
from lupus_dagster.components.product_loader import product_definitions
from lupus_dagster.event_batches import enable_event_batches
from lupus_dagster.jobs.detection_request import lupus_detection_request
from lupus_dagster.jobs.store_compaction import lupus_store_compaction, lupus_store_compaction_nightly
from lupus_dagster.resources.executor import executor_from_env
from lupus_dagster.resources.shared import shared_resources

# Run workers load this module: their ranged runs write per-partition events in batches.
enable_event_batches()

PRODUCTS_DIR = Path(os.environ.get("LUPUS_PRODUCTS_DIR") or Path(__file__).parent / "defs" / "products")
# Monitored selections of any Dagster asset (opt-in: none unless a folder has a defs.yaml).
MONITORS_DIR = Path(os.environ.get("LUPUS_MONITORS_DIR") or Path(__file__).parent / "defs" / "monitors")

automation = dg.AutomationConditionSensorDefinition(
    "lupus_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Metrics on each product's cron, anomalies eagerly after them.",
)

defs = dg.Definitions.merge(
    product_definitions(PRODUCTS_DIR),
    monitor_definitions(MONITORS_DIR),
    dg.Definitions(
        jobs=[lupus_detection_request, lupus_store_compaction],
        schedules=[lupus_store_compaction_nightly],
        sensors=[automation],
        resources=shared_resources(),
        executor=executor_from_env(),
    ),
)
