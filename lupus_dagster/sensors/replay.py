"""Backtest: replay a product's alerting (or a proposed spec's) over stored history, without posting anything.

The same path as production, on the points already in the store: the Great Expectations
check of each day (a failed day raises its check alert, is not judged, and stays out of every
detector's baseline, as the anomalies asset does), the spec's detector rules judging each day
on its own history window (:func:`lupus_store.detection.judge_days`, the anomalies asset's core),
no-data alerts, then grouping into incidents with headlines and root-cause slices,
continuation and resolution, in a throwaway SQLite incident store. Freshness is about when
partitions arrived, which stored points do not say: it is not replayed.

Example (see ``lupus backtest``):
    >>> import tempfile, pandas as pd
    >>> from lupus_dagster.product_spec import ProductSpec
    >>> from lupus_store import MetricStore
    >>> store = MetricStore(tempfile.mkdtemp())
    >>> for n, day in enumerate(pd.date_range("2026-01-01", periods=30, tz="UTC")):
    ...     value = 100.0 if n != 25 else 20.0
    ...     _ = store.write_points("shop", pd.DataFrame({"metric": ["rows.count"], "labels": [{}], "ts": [day],
    ...                                                  "value": [value + n % 3]}), day=day.date(), writer="m")
    >>> spec = ProductSpec.model_validate({"product": "shop", "team": "t", "datasource": "shop",
    ...     "partitions": {"start": "2026-01-01"}, "source": {"parquet": "x/{date}.parquet"}, "min_rows": 0,
    ...     "detect": [{"metrics": ["rows.count"], "detector": {"kind": "threshold", "min": 50}}]})
    >>> result = replay(spec, store, days=30)
    >>> [(i.start_day.isoformat(), i.headline) for i in result.incidents]
    [('2026-01-26', 'shop: rows.count 21 vs 50 expected (−58 %) on 2026-01-26')]
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from lupus_dagster.assets.partition_range import contiguous_runs
from lupus_dagster.assets.validation import validate_days
from lupus_dagster.product_spec import ProductSpec
from lupus_dagster.resources.routing import TeamRoute
from lupus_dagster.sensors.alert_events import FailedCheck
from lupus_dagster.sensors.alerts import record_and_resolve
from lupus_dagster.sensors.candidates import candidates_from_verdicts, check_candidate
from lupus_dagster.sensors.no_data import no_data_candidates
from lupus_dagster.sensors.policy import AlertPolicy
from lupus_metrics.detectors.runner import RECORD_COLUMNS
from lupus_store import MetricStore
from lupus_store.detection import history_start, judge_days
from lupus_store.incidents import Candidate, IncidentStore, IncidentView
from lupus_store.incidents.evidence import Evidence
from lupus_store.metadata import MetadataDB


@dataclass
class ReplayResult:
    """What the product's alerting would have done over ``first .. last``."""

    product: str
    first: date | None
    last: date | None
    incidents: list[IncidentView] = field(default_factory=list)
    alerts: int = 0
    failed_check_days: list[date] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # series whose detector failed

    def by_rule(self) -> dict[str, tuple[int, int]]:
        """Rule -> (alerts, incidents)."""
        counts: dict[str, list] = {}
        for incident in self.incidents:
            for rule in {m.rule or "unknown" for m in incident.members}:
                counts.setdefault(rule, [0, 0])[1] += 1
            for member in incident.members:
                counts.setdefault(member.rule or "unknown", [0, 0])[0] += 1
        return {rule: (alerts, incidents) for rule, (alerts, incidents) in sorted(counts.items())}


def replay(
    spec: ProductSpec,
    store: MetricStore,
    *,
    days: int = 90,
    end: date | None = None,
    teams: Mapping[str, TeamRoute] | None = None,
    workers: int | None = 1,
) -> ReplayResult:
    """Replay the last ``days`` stored days of ``spec``'s datasource (up to ``end``) through its alerting."""
    stored = [d for d in store.days(spec.datasource) if end is None or d <= end]
    result = ReplayResult(spec.product, None, None)
    if not stored:
        return result
    last = stored[-1]
    first = max(stored[0], last - timedelta(days=days - 1))
    result.first, result.last = first, last
    in_range = [d for d in stored if d >= first]
    policy = AlertPolicy.from_spec(spec, teams)

    # The check of every day any judged day's history reaches, as the anomalies asset looks them up.
    seen_from = history_start(first, spec.lookback_days)
    checked = [d for d in stored if d >= seen_from]
    points = store.read_points(spec.datasource, start=seen_from, end=last)
    outcomes = validate_days(points, spec, checked)
    broken = sorted(day for day, outcome in outcomes.items() if not outcome.passed)
    failed = [day for day in broken if day >= first]
    result.failed_check_days = failed
    judged = contiguous_runs(set(in_range) - set(failed))
    frames = []
    for start, stop in judged:
        verdicts, errors = judge_days(store, spec.datasource, spec.detect, start=start, end=stop,
                                      lookback_days=spec.lookback_days, workers=workers, excluded=broken)  # fmt: skip
        frames.append(verdicts)
        result.errors += errors
    verdicts = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=RECORD_COLUMNS)

    candidates: list[Candidate] = []
    verdict_days = verdicts["ts"].dt.date
    for day in in_range:
        if day in failed:
            candidates.append(_check_candidate(outcomes[day], day, policy))
        candidates += candidates_from_verdicts(store, verdicts[verdict_days == day], policy, day)
        candidates += no_data_candidates(store, policy, day)
    result.alerts = len(candidates)

    with tempfile.TemporaryDirectory() as folder:
        db = MetadataDB(f"sqlite:///{Path(folder) / 'backtest.db'}")
        incidents = IncidentStore(db)
        record_and_resolve(incidents, policy, candidates, Evidence.from_verdicts(verdicts, stored))
        result.incidents = sorted(incidents.incidents(limit=100_000), key=lambda i: (i.start_day, i.id))
        db.dispose()
    return result


def _check_candidate(outcome, day: date, policy: AlertPolicy) -> Candidate:
    metadata = {**outcome.alert_metadata(), "failed_expectations": "\n".join(outcome.failures)}
    stamp = pd.Timestamp(day, tz="UTC").timestamp()
    check = FailedCheck(0, "ge_validation", day.isoformat(), stamp, "ERROR", None, metadata)
    return check_candidate(check, policy)
