"""Synthetic daily source files for the three demo products, with one incident each.

- ``recommend``: a recommender's top-10 lists and the clicks they got, per region; click
  propensity has weekly seasonality. Incident: a broken feature in JP halves relevance.
- ``attribute_classifier``: predicted user segments and a delayed ground truth. Incident: a
  model release (v1 -> v2) flips about 40% of users' predicted segment overnight.
- ``demand_forecaster``: demand forecasts against actuals. Incident: the upstream table
  arrives half-empty (half the rows, and the `price` feature mostly null).

Files land under ``<root>/demo/<product>/.../date=<day>/part.parquet``, the paths the demo
products' YAML read (relative to ``LUPUS_DATA_ROOT``).

``DemoCalendar.ending(last, days)`` puts the incidents at fixed shares of the range (what
``lupus demo`` shows); with a ``seed`` it draws them, so replays over many calendars and seeds
(``benchmarks/demo_replay.py``) meet incidents on every weekday and at every distance from the
start. ``generate_demo_data(..., seed=...)`` seeds the data itself.

Example:
    >>> DemoCalendar.ending(date(2026, 6, 1), 90).recommend_incident
    datetime.date(2026, 5, 1)
    >>> calendar = DemoCalendar.ending(date(2026, 6, 1), 90, seed=3)
    >>> len({calendar.recommend_incident, calendar.classifier_release, calendar.forecaster_incident})
    3
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

REGIONS = ("JP", "US", "DE")
SEGMENTS = ("student", "family", "senior", "professional")


@dataclass(frozen=True)
class DemoCalendar:
    """The generated days and the incident day of each product."""

    first: date
    days: int
    recommend_incident: date
    classifier_release: date
    forecaster_incident: date

    @property
    def last(self) -> date:
        return self.first + timedelta(days=self.days - 1)

    @classmethod
    def ending(cls, last: date, days: int = 90, *, seed: int | None = None) -> DemoCalendar:
        """``days`` days up to ``last``; incidents at 65/75/85 % of the range, or drawn with ``seed``.

        Drawn incidents fall on three different days between half the range (the detectors need some
        weeks of history) and five days before its end.
        """
        first = last - timedelta(days=days - 1)
        if seed is None:
            offsets = [int(days * 0.65), int(days * 0.75), int(days * 0.85)]
        else:
            rng = np.random.default_rng(seed)
            offsets = [int(x) for x in rng.choice(np.arange(days // 2, days - 5), size=3, replace=False)]
        return cls(
            first=first,
            days=days,
            recommend_incident=first + timedelta(days=offsets[0]),
            classifier_release=first + timedelta(days=offsets[1]),
            forecaster_incident=first + timedelta(days=offsets[2]),
        )

    def each_day(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range(self.days)]


def _write(frame: pd.DataFrame, root: Path, relative: str, day: date) -> None:
    target = root / relative / f"date={day.isoformat()}" / "part.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(target, index=False)


def recommend_day(day: date, *, incident: bool, rng: np.random.Generator, users: int = 1000, k: int = 10):
    """(recommendations, clicks) for one day."""
    weekly = 1.0 + 0.25 * np.sin(2 * np.pi * day.weekday() / 7)
    recs, clicks = [], []
    for region in REGIONS:
        user_ids = [f"{region}-u{i}" for i in range(users)]
        items = rng.integers(0, 500, size=(users, k))
        scores = np.sort(rng.random((users, k)), axis=1)[:, ::-1]
        recs.append(pd.DataFrame({
            "user_id": np.repeat(user_ids, k), "item_id": items.ravel().astype(str),
            "score": scores.ravel(), "region": region,
        }))  # fmt: skip
        # Higher-ranked items are clicked more; a broken JP feature makes clicks random.
        rank = np.tile(np.arange(k), users)
        propensity = 0.35 * weekly / (1 + rank) if not (incident and region == "JP") else np.full(users * k, 0.02)
        clicked = rng.random(users * k) < propensity
        clicks.append(pd.DataFrame({
            "user_id": np.repeat(user_ids, k)[clicked], "item_id": items.ravel().astype(str)[clicked], "clicked": 1,
        }))  # fmt: skip
    recommendations = pd.concat(recs, ignore_index=True).drop_duplicates(["user_id", "item_id"])
    return recommendations, pd.concat(clicks, ignore_index=True).drop_duplicates(["user_id", "item_id"])


def classifier_day(day: date, *, released: bool, base: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Predictions for every user; after the release, v2 disagrees with v1 for ~40% of users."""
    predicted = base["v1_segment"].to_numpy().copy()
    drift = rng.random(len(base)) < 0.01  # a little day-to-day churn is normal
    predicted[drift] = rng.choice(SEGMENTS, size=int(drift.sum()))
    if released:
        predicted = base["v2_segment"].to_numpy().copy()
    return pd.DataFrame({
        "user_id": base["user_id"], "region": base["region"], "predicted_segment": predicted,
        "true_segment": base["true_segment"], "model_version": "v2" if released else "v1",
        "confidence": np.clip(rng.normal(0.8, 0.1, len(base)), 0, 1),
    })  # fmt: skip


def classifier_population(rng: np.random.Generator, users: int = 3000) -> pd.DataFrame:
    truth = rng.choice(SEGMENTS, size=users)
    v1 = np.where(rng.random(users) < 0.85, truth, rng.choice(SEGMENTS, size=users))
    flipped = rng.random(users) < 0.4
    v2 = np.where(flipped, rng.choice(SEGMENTS, size=users), v1)
    return pd.DataFrame({
        "user_id": [f"user-{i}" for i in range(users)], "region": rng.choice(REGIONS, size=users),
        "true_segment": truth, "v1_segment": v1, "v2_segment": v2,
    })  # fmt: skip


def forecaster_day(day: date, *, half_empty: bool, rng: np.random.Generator, rows: int = 2000) -> pd.DataFrame:
    weekly = 1.0 + 0.2 * np.cos(2 * np.pi * day.weekday() / 7)
    actual = rng.gamma(5.0, 20.0 * weekly, size=rows)
    frame = pd.DataFrame({
        "store_id": rng.integers(0, 50, size=rows).astype(str), "region": rng.choice(REGIONS, size=rows),
        "demand": actual, "forecast": actual * rng.normal(1.0, 0.12, size=rows),
        "price": np.where(rng.random(rows) < 0.01, np.nan, rng.normal(10, 2, size=rows)),
    })  # fmt: skip
    if half_empty:
        frame = frame.iloc[: rows // 2].copy()
        frame.loc[rng.random(len(frame)) < 0.6, "price"] = np.nan
    return frame


def generate_demo_data(root: Path, calendar: DemoCalendar, *, seed: int = 11) -> None:
    """Write every day of the calendar for the three demo products under ``root/demo``; ``seed`` seeds the
    data (users, clicks, predictions, forecasts), the calendar fixes the incident days."""
    rng = np.random.default_rng(seed)
    population = classifier_population(rng)
    for day in calendar.each_day():
        recs, clicks = recommend_day(day, incident=day == calendar.recommend_incident, rng=rng)
        _write(recs, root, "demo/recommend/recommendations", day)
        _write(clicks, root, "demo/recommend/clicks", day)
        _write(classifier_day(day, released=day >= calendar.classifier_release, base=population, rng=rng),
               root, "demo/attribute_classifier/predictions", day)  # fmt: skip
        _write(forecaster_day(day, half_empty=day == calendar.forecaster_incident, rng=rng),
               root, "demo/demand_forecaster/forecasts", day)  # fmt: skip
