"""``compute_profile``: a declared profile of a table, as metric points, on pandas or PySpark.

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"region": ["JP", "JP", "US"], "score": [0.2, None, 0.6],
    ...                    "tags": [["a", "b"], ["a"], []]})
    >>> spec = ProfileSpec(group_by=["region"], columns={"score": ["mean", "null_rate"], "tags": ["topk:1"]})
    >>> points = compute_profile(df, spec, ts="2026-01-01")
    >>> for p in points.itertuples():
    ...     print(p.metric, p.labels, p.value)
    rows.count {} 3.0
    score.mean {} 0.4
    score.null_rate {} 0.3333333333333333
    rows.count {'region': 'JP'} 2.0
    score.mean {'region': 'JP'} 0.2
    score.null_rate {'region': 'JP'} 0.5
    rows.count {'region': 'US'} 1.0
    score.mean {'region': 'US'} 0.6
    score.null_rate {'region': 'US'} 0.0
    tags.topk_count {'value': 'a', 'rank': '1'} 2.0
    tags.topk_share {'value': 'a', 'rank': '1'} 0.6666666666666666
    tags.topk_count {'region': 'JP', 'value': 'a', 'rank': '1'} 2.0
    tags.topk_share {'region': 'JP', 'value': 'a', 'rank': '1'} 0.6666666666666666
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.frames import normalize_points
from lupus_metrics.stats.compiler import compile_plan
from lupus_metrics.stats.duckdb_engine import DuckDBEngine, duckdb_input
from lupus_metrics.stats.parquet_files import ParquetFiles
from lupus_metrics.stats.plan import ProfilePlan
from lupus_metrics.stats.points import assemble_points
from lupus_metrics.stats.spec import ProfileSpec

if TYPE_CHECKING:
    from lupus_metrics.stats.spark_engine import SparkEngine


def compute_profile(
    df: Any,
    spec: ProfileSpec | dict[str, Any],
    *,
    ts: datetime | pd.Timestamp | str,
    datasource: str | None = None,
    files: ParquetFiles | None = None,
) -> pd.DataFrame:
    """Compute ``spec`` over ``df`` and return its metric points (``metric, labels, ts, value, n, stderr``).

    ``df`` is a pandas DataFrame or pyarrow Table (run by DuckDB, exact) or a PySpark
    DataFrame (run by Spark; quantiles approximate, see
    :mod:`lupus_metrics.stats.spark_engine`). ``ts`` is the partition time stamped on every
    point and the reference of ``lag`` (naive means UTC). With ``datasource``, the points are
    also validated by :func:`lupus_metrics.frames.normalize_points` and get ``series_id``.

    Points come overall group first (labels ``{}``), then each group with its group-by
    labels; top-k points carry ``value`` and ``rank`` labels. Null stats (e.g. the mean of
    an all-null column) are NaN. Raises :class:`LupusValidationError` for a spec that does
    not fit the data, before any row is aggregated.

    ``files`` says that ``df``, a DuckDB relation, scans exactly these Parquet files (as
    ``DaySources`` reads a day): from 2M rows on, the counts behind top-k, quantiles and distinct
    counts are then taken from the files in one pass (text codes, numbers hashed in a compiled
    loop), the same counts at about half the CPU (:mod:`lupus_metrics.stats.parquet_counts`).
    """
    profile = spec if isinstance(spec, ProfileSpec) else ProfileSpec.model_validate(spec)
    stamp = _utc_timestamp(ts)
    engine: DuckDBEngine | SparkEngine
    if _is_spark_frame(df):
        from lupus_metrics.stats.spark_engine import SparkEngine

        engine = SparkEngine(df, profile.spark)
    else:
        engine = DuckDBEngine(duckdb_input(df), files=files)
    with engine:
        plan: ProfilePlan = compile_plan(profile, engine.schema())
        result = engine.run(plan)
    points = assemble_points(plan, result, stamp)
    return points if datasource is None else normalize_points(points, datasource)


def _is_spark_frame(df: Any) -> bool:
    # Checked by module name so that pandas users never import pyspark.
    return type(df).__module__.startswith("pyspark.sql") and type(df).__name__ == "DataFrame"


def _utc_timestamp(ts: object) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(ts)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise LupusValidationError("ts", "must be a timestamp (naive timestamps are read as UTC)", value=ts) from None
    if pd.isna(stamp):
        raise LupusValidationError("ts", "must be a timestamp, not null", value=ts)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
