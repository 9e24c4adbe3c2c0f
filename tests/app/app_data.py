"""Deterministic data for the app's tests and benchmark: a store with points, detector verdicts and accounts.

Datasource ``shop-recs`` (team ``recsys``) has ``rows.count`` per region with a band and
anomalies, and ``score.mean`` without detector verdicts; ``other-ds`` belongs to team
``other``. Users: ``alice`` (recsys), ``bob`` (other), ``root`` (admin); password = name + ``-password``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from lupus_store import MetricStore
from lupus_store.metadata import MetadataDB
from streamlit_app import accounts

END = date(2026, 3, 31)
REGIONS = ("JP", "US", "DE")


@dataclass(frozen=True)
class AppData:
    home: Path
    store: MetricStore
    db: MetadataDB
    end: date
    users: dict[str, int]


def password(username: str) -> str:
    return f"{username}-password"


def write_metric(
    store: MetricStore,
    datasource: str,
    metric: str,
    *,
    label_sets: list[dict[str, str]],
    days: int,
    end: date,
    anomalies: int = 0,
    band: bool = True,
    seed: int = 0,
    scale: float = 100.0,
    noise: float = 0.01,
    params: str = '{"method":"mad","threshold":4,"window":14}',
    run_id: str = "run-1",
) -> list[tuple[str, date]]:
    """Write ``days`` daily points per label set; with ``band``, detector verdicts for every point.

    Series ``i`` moves around ``scale * (i + 1)`` with a weekly wave and relative noise ``noise``
    (0: the weekly wave only). ``anomalies`` spikes (twice the expected value) are spread over the series
    (round robin) on distinct days and flagged; returns the (label text, day) of each flagged point. One
    file per day, as the assets write.
    """
    rng = np.random.default_rng(seed)
    first = end - timedelta(days=days - 1)
    n = len(label_sets)
    spikes = {}
    spike_days = np.linspace(days // 4, days - 2, anomalies).astype(int) if anomalies else []
    for i, offset in enumerate(spike_days):
        spikes[(i % n, int(offset))] = True
    flagged: list[tuple[str, date]] = []
    base = np.array([scale * (1 + i) for i in range(n)])
    for offset in range(days):
        day = first + timedelta(days=offset)
        ts = pd.Timestamp(day, tz="UTC")
        weekly = 1 + 0.1 * np.sin(2 * np.pi * day.weekday() / 7)
        expected = base * weekly
        values = expected * rng.normal(1.0, noise, n)
        is_anomaly = np.zeros(n, dtype=bool)
        for s in range(n):
            if (s, offset) in spikes:
                values[s] = expected[s] * 2.0
                is_anomaly[s] = True
                flagged.append((",".join(f"{k}={v}" for k, v in sorted(label_sets[s].items())), day))
        frame = pd.DataFrame({"metric": metric, "labels": label_sets, "ts": ts, "value": values})
        store.write_points(datasource, frame, day=day, writer=f"m-{metric}")
        if band:
            verdicts = frame.assign(
                expected=expected,
                lower=expected * 0.9,
                upper=expected * 1.1,
                score=(values - expected) / (expected * 0.05),
                is_anomaly=is_anomaly,
                detector="window",
                params=params,
            )
            store.write_anomalies(datasource, verdicts, day=day, writer=f"a-{metric}", run_id=run_id)
    return flagged


def build(home: Path, *, days: int = 60) -> AppData:
    """The standard test installation under ``home`` (store in ``home/store``, SQLite metadata)."""
    store = MetricStore(home / "store")
    db = MetadataDB(f"sqlite:///{home / 'metadata.db'}")
    db.upgrade()
    regions = [{"region": r} for r in REGIONS]
    write_metric(store, "shop-recs", "rows.count", label_sets=regions, days=days, end=END, anomalies=3)
    write_metric(store, "shop-recs", "score.mean", label_sets=regions, days=days, end=END, band=False, seed=1)
    write_metric(store, "other-ds", "rows.count", label_sets=[{}], days=days, end=END, seed=2)
    accounts.register_datasource(db, "shop-recs", team="recsys", description="Shop recommendations")
    accounts.register_datasource(db, "other-ds", team="other")
    users = {
        "alice": accounts.add_user(db, "alice", teams=["recsys"], password=password("alice")),
        "bob": accounts.add_user(db, "bob", teams=["other"], password=password("bob")),
        "root": accounts.add_user(db, "root", password=password("root"), is_admin=True),
    }
    return AppData(home, store, db, END, users)
