"""The Lupus code location: `workspace.yaml` loads `defs` from here.

Monitored products (one folder each under `defs/products/`) add their assets, checks and
sensors here as they land; the resources are defined once and shared.
"""

import dagster as dg

from lupus_dagster.jobs.detection_request import lupus_detection_request
from lupus_dagster.resources.store import MetricStoreResource

defs = dg.Definitions(jobs=[lupus_detection_request], resources={"store": MetricStoreResource()})
