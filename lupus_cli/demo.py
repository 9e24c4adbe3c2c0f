"""The demo: a synthetic recommendation service's 90 days of metrics, written to a fresh store.

The series carry weekly seasonality and one injected incident (the upstream table
arrives half-empty: row counts halve and the score's null rate jumps), the kind of
day Lupus exists to catch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import select

from lupus_store import MetricStore
from lupus_store.metadata import Datasource, MetadataDB, Team

DATASOURCE = "demo-recommend"
TEAM = "demo"
REGIONS = {"JP": 120_000, "US": 80_000, "DE": 30_000}


@dataclass(frozen=True)
class DemoResult:
    store_root: str
    metadata_url: str
    datasource: str
    first_day: date
    last_day: date
    incident_day: date
    points: int
    series: int


def synthetic_day(day: date, incident: bool, rng: np.random.Generator) -> pd.DataFrame:
    """One day of profile and evaluation points for every region, plus the overall group."""
    weekly = 1.0 + 0.15 * np.sin(2 * np.pi * day.weekday() / 7)
    ts = pd.Timestamp(day, tz="UTC")
    rows = []
    total = 0.0
    for region, base in REGIONS.items():
        count = round(base * weekly * rng.normal(1.0, 0.02) * (0.5 if incident else 1.0))
        null_rate = 0.3 if incident else abs(rng.normal(0.004, 0.001))
        total += count
        labels = {"region": region}
        rows += [
            {"metric": "rows.count", "labels": labels, "value": float(count)},
            {"metric": "score.mean", "labels": labels, "value": 0.62 + 0.03 * weekly + rng.normal(0, 0.005)},
            {"metric": "score.null_rate", "labels": labels, "value": null_rate},
            {"metric": "ranking.ndcg", "labels": labels | {"k": "10"}, "value": 0.31 * weekly + rng.normal(0, 0.004)},
        ]
    rows.append({"metric": "rows.count", "labels": {}, "value": total})
    frame = pd.DataFrame(rows)
    frame["ts"] = ts
    return frame


def run_demo(store: MetricStore, db: MetadataDB, *, days: int = 90, today: date | None = None) -> DemoResult:
    """Write ``days`` days (ending yesterday) of the demo datasource; safe to run again (writers replace)."""
    db.upgrade()
    with db.session() as session:
        team = session.scalar(select(Team).where(Team.name == TEAM)) or Team(name=TEAM)
        session.add(team)
        session.flush()
        if session.scalar(select(Datasource).where(Datasource.name == DATASOURCE)) is None:
            session.add(Datasource(name=DATASOURCE, owner_team_id=team.id, description="Synthetic demo recommender"))
    last = (today or date.today()) - timedelta(days=1)
    first = last - timedelta(days=days - 1)
    incident = last - timedelta(days=days // 6)
    rng = np.random.default_rng(7)
    points = 0
    for n in range(days):
        day = first + timedelta(days=n)
        frame = synthetic_day(day, day == incident, rng)
        points += store.write_points(DATASOURCE, frame, day=day, writer="demo", source="demo").rows
    return DemoResult(
        store_root=store.root,
        metadata_url=db.url,
        datasource=DATASOURCE,
        first_day=first,
        last_day=last,
        incident_day=incident,
        points=points,
        series=len(store.list_series(DATASOURCE)),
    )
