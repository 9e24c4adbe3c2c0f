"""A second code location for the tests: a team's warehouse tables that report their row counts.

`warehouse/orders` is daily-partitioned and backfills many days in one run; each partition's
`dagster/row_count` is about 1,000, except on the day named by `WAREHOUSE_DROP_DAY`, when an
upstream load "half fails" and 30% of the rows arrive. `crm/leads` is in another group, so a
`group:warehouse` selection must leave it out.
"""

import os
from datetime import date

import dagster as dg
import numpy as np

DAYS = dg.DailyPartitionsDefinition(start_date="2026-01-01")


@dg.asset(key=["warehouse", "orders"], group_name="warehouse", partitions_def=DAYS,
          backfill_policy=dg.BackfillPolicy.single_run())  # fmt: skip
def orders(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    drop = os.environ.get("WAREHOUSE_DROP_DAY")
    for key in context.partition_keys:
        rng = np.random.default_rng(date.fromisoformat(key).toordinal())
        rows = int(rng.normal(1000, 15)) if key != drop else 300
        context.add_asset_metadata(
            {"dagster/row_count": rows, "load_seconds": float(rng.uniform(1, 2))}, partition_key=key
        )
    return dg.MaterializeResult()


@dg.asset(key=["crm", "leads"], group_name="crm")
def leads() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"dagster/row_count": 5})


defs = dg.Definitions(assets=[orders, leads])
