"""Screenshots of the app for docs/app.md, taken from the demo datasource in headless Debian Chromium.

    .venv/bin/python docs/screenshots/make_screenshots.py

Writes the demo datasource `demo-recommend` of team `demo` (the synthetic recommender of
the original store-only `lupus demo`: rows, score and nDCG per region with weekly
seasonality and one incident day where the upstream table arrives half-empty), 90 days
ending 2026-03-31 so the pictures do not change from day to day, into a temporary
LUPUS_HOME; runs the window detector over it with `lupus_store.detection`; creates a user
`pm` and a shared dashboard; starts the app and saves home.png, explorer.png, chart.png,
dashboard.png and alerts.png next to this script. (The pipeline demo of `lupus demo` needs a
full Dagster backfill, minutes per product; the pictures need only the store.)
"""

from __future__ import annotations

import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from app.browser import StreamlitServer, chart_layers, launch, wait_idle  # noqa: E402

from lupus_store import MetricStore  # noqa: E402
from lupus_store.detection import detect_and_store  # noqa: E402
from lupus_store.metadata import MetadataDB  # noqa: E402
from streamlit_app import accounts, dashboards  # noqa: E402
from streamlit_app.access import load_user  # noqa: E402
from streamlit_app.deep_links import ChartView, chart_url  # noqa: E402

TODAY = date(2026, 4, 1)
DAYS = 90
DATASOURCE = "demo-recommend"
TEAM = "demo"
REGIONS = {"JP": 120_000, "US": 80_000, "DE": 30_000}
# Same-weekday baselines: the demo has weekly seasonality, so the band follows it and the incident stands out.
RULES = [{"metrics": ["*"], "detector": {"kind": "window", "window": 8, "min_history": 4, "same_weekday": True,
                                         "method": "zscore", "threshold": 5}}]


def demo_day(day: date, incident: bool, rng: np.random.Generator) -> pd.DataFrame:
    """One day of profile and evaluation points per region, plus the overall row count."""
    weekly = 1.0 + 0.15 * np.sin(2 * np.pi * day.weekday() / 7)
    rows, total = [], 0.0
    for region, base in REGIONS.items():
        count = round(base * weekly * rng.normal(1.0, 0.02) * (0.5 if incident else 1.0))
        total += count
        labels = {"region": region}
        rows += [
            {"metric": "rows.count", "labels": labels, "value": float(count)},
            {"metric": "score.mean", "labels": labels, "value": 0.62 + 0.03 * weekly + rng.normal(0, 0.005)},
            {"metric": "score.null_rate", "labels": labels, "value": 0.3 if incident else abs(rng.normal(0.004, 0.001))},
            {"metric": "ranking.ndcg", "labels": labels | {"k": "10"}, "value": 0.31 * weekly + rng.normal(0, 0.004)},
        ]
    rows.append({"metric": "rows.count", "labels": {}, "value": total})
    return pd.DataFrame(rows).assign(ts=pd.Timestamp(day, tz="UTC"))


def prepare(home: Path) -> None:
    store = MetricStore(home / "store")
    db = MetadataDB(f"sqlite:///{home / 'metadata.db'}")
    db.upgrade()
    last = TODAY - timedelta(days=1)
    first = last - timedelta(days=DAYS - 1)
    incident = last - timedelta(days=DAYS // 6)
    rng = np.random.default_rng(7)
    for n in range(DAYS):
        day = first + timedelta(days=n)
        store.write_points(DATASOURCE, demo_day(day, day == incident, rng), day=day, writer="demo", source="demo")
    detect_and_store(store, DATASOURCE, RULES, start=first, end=last, writer="screenshots", workers=1)
    accounts.register_datasource(db, DATASOURCE, team=TEAM, description="Synthetic demo recommender")
    user = load_user(db, accounts.add_user(db, "pm", teams=[TEAM], password="pm-password", display_name="Product manager"))
    board = dashboards.create_dashboard(db, user, "Recommendations: daily health")
    for metric, labels, title in [
        ("rows.count", {"region": ("JP", "US", "DE")}, "Rows per region"),
        ("score.null_rate", {}, "Score null rate"),
        ("ranking.ndcg", {"region": ("JP",)}, "nDCG@10, Japan"),
    ]:
        dashboards.add_chart(db, user, board, ChartView(DATASOURCE, metric, labels), time_range="60d", title=title)
    dashboards.share_dashboard(db, user, board, next(iter(user.teams)))


def main() -> None:
    from playwright.sync_api import sync_playwright

    home = Path(tempfile.mkdtemp(prefix="lupus-screenshots-"))
    prepare(home)
    env = {"LUPUS_HOME": str(home), "LUPUS_UI_TODAY": TODAY.isoformat()}
    server = StreamlitServer(env, cwd=home, log=home / "streamlit.log").start()
    pages = {
        "home": ("/", 0),
        "explorer": (f"/explorer?datasource={DATASOURCE}", 4),
        "chart": (chart_url("", ChartView(DATASOURCE, "rows.count", start=date(2026, 1, 15), end=date(2026, 3, 31))), 1),
        "dashboard": ("/dashboards?id=1", 3),
        "alerts": ("/alerts", 0),
    }
    try:
        with sync_playwright() as playwright:
            browser = launch(playwright)
            for name, (path, charts) in pages.items():
                context = browser.new_context(viewport={"width": 1400, "height": 900}, timezone_id="UTC")
                context.set_default_timeout(120_000)
                page = context.new_page()
                page.goto(server.url + path)
                _sign_in(page)  # the display name shows instead of the username
                for index in range(charts):
                    chart_layers(page, index=index, timeout=120)  # every chart drew its data
                wait_idle(page, timeout=120)
                page.wait_for_timeout(1000)  # let the last canvas paint
                page.screenshot(path=str(HERE / f"{name}.png"), full_page=True)
                print(f"wrote {HERE / f'{name}.png'}")
                context.close()
            browser.close()
    finally:
        server.stop()


def _sign_in(page) -> None:
    page.get_by_label("Username").fill("pm")
    page.get_by_label("Password", exact=True).fill("pm-password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_text("Signed in as Product manager").wait_for()


if __name__ == "__main__":
    main()
