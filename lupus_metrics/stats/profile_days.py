"""``compute_profile_days``: one profile per partition of a table, in one pass over all of them.

A ranged backfill profiles hundreds of small days. Computed one by one, each day pays the fixed
cost of a few DuckDB queries (planning, binding, result conversion), which dominates a day of a
few thousand rows. Here the day is one more grouping column: the same aggregates run once over
the whole range with the partition column in every grouping set, and the result is split into
the points :func:`~lupus_metrics.stats.profile.compute_profile` returns for each partition alone
(each partition's points stamped with its own ``ts``, so ``lag`` is per partition too).

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"day": ["d1", "d1", "d2"], "region": ["JP", "US", "JP"], "x": [1.0, 3.0, 5.0]})
    >>> spec = ProfileSpec(group_by=["region"], columns={"x": ["mean"]})
    >>> days = compute_profile_days(df, spec, partition="day", ts={"d1": "2026-01-01", "d2": "2026-01-02"})
    >>> days["d1"][["metric", "labels", "value"]].values.tolist()  # doctest: +NORMALIZE_WHITESPACE
    [['rows.count', {}, 2.0], ['x.mean', {}, 2.0], ['rows.count', {'region': 'JP'}, 1.0],
     ['x.mean', {'region': 'JP'}, 1.0], ['rows.count', {'region': 'US'}, 1.0], ['x.mean', {'region': 'US'}, 3.0]]
    >>> days["d2"]["value"].tolist()
    [1.0, 5.0, 1.0, 5.0]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.stats.compiler import compile_plan
from lupus_metrics.stats.duckdb_engine import DuckDBEngine, duckdb_input
from lupus_metrics.stats.points import EngineResult, assemble_points, group_columns
from lupus_metrics.stats.profile import _utc_timestamp
from lupus_metrics.stats.spec import ProfileSpec

_PARTITION = "__lupus_partition"


def compute_profile_days(
    df: Any,
    spec: ProfileSpec | dict[str, Any],
    *,
    partition: str,
    ts: Mapping[str, datetime | pd.Timestamp | str],
) -> dict[str, pd.DataFrame]:
    """``compute_profile`` of each partition of ``df`` (rows with one value of column ``partition``).

    ``ts`` maps each partition value (as text) to its timestamp; the result maps the same keys to
    the points ``compute_profile(rows_of_that_partition, spec, ts=ts[key])`` returns, partitions
    without rows included (their counts are 0). ``df`` is what DuckDB scans (pandas, Arrow, a
    relation). A sampled profile is refused: one sample of the range is not each day's sample.
    """
    profile = spec if isinstance(spec, ProfileSpec) else ProfileSpec.model_validate(spec)
    if profile.sample is not None:
        raise LupusValidationError("profile.sample", "a sampled profile is computed one partition at a time")
    if partition in profile.group_by or partition in profile.columns:
        raise LupusValidationError("partition", "must not be a profiled or group-by column", value=partition)
    stamps = {key: _utc_timestamp(value) for key, value in ts.items()}
    with DuckDBEngine(duckdb_input(df)) as engine:
        schema = engine.schema()
        if partition not in schema:
            raise LupusValidationError("partition", "no such column", value=partition)
        plan = compile_plan(profile, {k: v for k, v in schema.items() if k != partition})
        # Two runs with the partition in every grouping set: (partition, *group_by) gives each day's
        # groups, (partition) alone each day's overall group (what the plan's overall set gives a day).
        by_groups = (
            engine.run(dataclasses.replace(plan, group_by=(partition, *plan.group_by))) if plan.group_by else None
        )
        overall = engine.run(dataclasses.replace(plan, group_by=(partition,)))
    overall_parts = _split(overall, [], overall_row=True)
    group_parts = _split(by_groups, group_columns(plan), overall_row=False) if by_groups is not None else {}
    return {
        key: assemble_points(plan, _partition_result(key, overall_parts, group_parts, overall), stamp)
        for key, stamp in stamps.items()
    }


def _split(result: EngineResult, keys: list[str], *, overall_row: bool) -> dict[str | None, EngineResult]:
    """A ranged run's rows per partition, shaped as a run over that partition alone (key None: the columns only)."""
    frames = {"": result.scalars, **{f"topk:{column}": frame for column, frame in result.topks.items()}}
    parts: dict[str | None, dict[str, pd.DataFrame]] = {}
    for name, frame in frames.items():
        # In a ranged result the partition is g0 and the plan's group keys g1, g2...; the rows grouped on
        # every key have gid 0. A day's overall row gets gid 1, as the overall set of a one-day run.
        rows = frame[frame["gid"] == 0].rename(
            columns={"g0": _PARTITION, **{f"g{i + 1}": k for i, k in enumerate(keys)}}
        )
        if overall_row:
            rows = rows.assign(gid=1, **{k: None for k in keys})
        parts.setdefault(None, {})[name] = rows.drop(columns=[_PARTITION]).iloc[0:0]
        for key, day_rows in rows.groupby(rows[_PARTITION].astype(str), sort=False):
            parts.setdefault(key, {})[name] = day_rows.drop(columns=[_PARTITION])
    return {
        key: EngineResult(
            frames.get("", parts[None][""]),
            {name[5:]: frames.get(name, parts[None][name]) for name in parts[None] if name},
        )
        for key, frames in parts.items()
    }


def _partition_result(
    key: str,
    overall: dict[str | None, EngineResult],
    groups: dict[str | None, EngineResult],
    shape: EngineResult,
) -> EngineResult:
    """One partition's rows: its overall row (and top-k), then its groups', in the columns of a one-partition run."""
    parts = [result.get(key, result[None]) for result in (overall, groups) if result]
    return EngineResult(
        pd.concat([p.scalars for p in parts], ignore_index=True),
        {column: pd.concat([p.topks[column] for p in parts], ignore_index=True) for column in shape.topks},
    )
