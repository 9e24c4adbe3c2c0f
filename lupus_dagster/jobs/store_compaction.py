"""`lupus_store_compaction`: merge each datasource's small day files into one file per month, nightly.

Pushed batches and reruns leave many small Parquet files (one per writer, day and datasource); reads
open every one. The job runs :meth:`lupus_store.MetricStore.compact` for each datasource (or the
configured ones), which keeps every writer's rows and is safe to repeat. The schedule
`lupus_store_compaction_nightly` starts it at 03:30 UTC; run it by hand from the Dagster UI, or use
`lupus store compact DS` from a shell.

(No `from __future__ import annotations` here: Dagster reads the op's annotations at runtime.)

Run config (all optional):

    ops:
      store_compaction:
        config:
          datasources: ["service1-recommend"]   # default: every datasource in the store
"""

import dagster as dg
from pydantic import Field

from lupus_dagster.resources.store import MetricStoreResource

JOB_NAME = "lupus_store_compaction"


class StoreCompactionConfig(dg.Config):
    datasources: list[str] = Field(default_factory=list, description="Datasources to compact; empty: every one.")


@dg.op(description="Compact the store's day files into month files, datasource by datasource.")
def store_compaction(context: dg.OpExecutionContext, config: StoreCompactionConfig, store: MetricStoreResource) -> dict:
    metric_store = store.get_store()
    names = config.datasources or metric_store.list_datasources()
    totals = {"datasources": 0, "months_compacted": 0, "files_before": 0, "files_after": 0}
    failed: dict[str, str] = {}
    for name in names:
        try:
            report = metric_store.compact(name)
        except Exception as err:  # one broken datasource must not keep the others uncompacted
            context.log.error(f"compacting {name} failed: {type(err).__name__}: {err}")
            failed[name] = f"{type(err).__name__}: {err}"
            continue
        context.log.info(
            f"{name}: {report.months_compacted} months, files {report.files_before} -> {report.files_after}"
        )
        totals["datasources"] += 1
        for key in ("months_compacted", "files_before", "files_after"):
            totals[key] += getattr(report, key)
    context.add_output_metadata(dict(totals))
    if failed:
        raise dg.Failure(
            description=f"compaction failed for {len(failed)} of {len(names)} datasources: {', '.join(sorted(failed))}",
            metadata={name: dg.MetadataValue.text(error) for name, error in failed.items()},
        )
    return totals


@dg.job(name=JOB_NAME, description="Merge the metric store's small day files into month files.")
def lupus_store_compaction() -> None:
    store_compaction()


lupus_store_compaction_nightly = dg.ScheduleDefinition(
    name="lupus_store_compaction_nightly",
    job=lupus_store_compaction,
    cron_schedule="30 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Nightly compaction of every datasource (reads open fewer files).",
)
