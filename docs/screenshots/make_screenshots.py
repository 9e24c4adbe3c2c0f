"""Screenshots of the app for docs/app.md and the README, taken from `lupus demo`'s data in headless Chromium.

    .venv/bin/python docs/screenshots/make_screenshots.py

Runs the pipeline demo (`lupus_dagster.demo.run.run_pipeline_demo`: three synthetic products,
90 days ending 2026-03-31 so the pictures do not change from day to day, backfilled through
Dagster with checks, detection and alerts) into a temporary LUPUS_HOME; registers the products'
datasources under their teams; creates a user `pm` in those teams and a shared dashboard;
starts the app (`streamlit_app/server.py`, as `lupus serve ui`), signs in once (the session cookie
keeps the sign-in for the other pages) and saves home.png (the incident board), alerts.png (the first
incident opened), chart.png (nDCG per region with the JP incident and its root-cause sentence),
chart-check.png (the forecaster's failed check annotated on rows.count), chart-rate.png (churn with the model
release), explorer.png and dashboard.png next to this script. Takes several minutes (the backfill).
"""

from __future__ import annotations

import sys
import tempfile
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from app.browser import SESSION_COOKIE, StreamlitServer, chart_layers, launch, wait_idle  # noqa: E402

from lupus_store.incidents import IncidentStore  # noqa: E402
from lupus_store.metadata import MetadataDB  # noqa: E402
from streamlit_app import accounts, dashboards  # noqa: E402
from streamlit_app.access import load_user  # noqa: E402
from streamlit_app.deep_links import ChartView, chart_url  # noqa: E402

TODAY = date(2026, 4, 1)
DAYS = 90
DATASOURCE = "recommend"


def prepare(home: Path) -> None:
    from lupus_dagster.components.product_loader import load_products
    from lupus_dagster.demo.run import DEMO_PRODUCTS, run_pipeline_demo

    run_pipeline_demo(home, days=DAYS, today=TODAY)
    db = MetadataDB(f"sqlite:///{home / 'metadata.db'}")
    db.upgrade()
    specs, _ = load_products(DEMO_PRODUCTS)
    for spec in specs:
        accounts.register_datasource(db, spec.datasource, team=spec.team, description=spec.description)
    teams = sorted({spec.team for spec in specs})
    user = load_user(
        db, accounts.add_user(db, "pm", teams=teams, password="pm-password", display_name="Product manager")
    )
    board = dashboards.create_dashboard(db, user, "Recommendations: daily health")
    for datasource, metric, labels, title in [
        (DATASOURCE, "ranking.ndcg", {"region": ("JP", "US", "DE")}, "nDCG@10 per region"),
        (DATASOURCE, "rows.count", {}, "Rows"),
        (DATASOURCE, "score.null_rate", {}, "Score null rate"),
        ("attribute-classifier", "churn.rate", {}, "Prediction churn"),
    ]:
        dashboards.add_chart(db, user, board, ChartView(datasource, metric, labels), time_range="60d", title=title)
    dashboards.share_dashboard(db, user, board, next(i for i, name in user.teams.items() if name == "recsys"))


def main() -> None:
    from playwright.sync_api import sync_playwright

    home = Path(tempfile.mkdtemp(prefix="lupus-screenshots-"))
    prepare(home)
    env = {"LUPUS_HOME": str(home), "LUPUS_UI_TODAY": TODAY.isoformat()}
    server = StreamlitServer(env, cwd=home, log=home / "streamlit.log").start()
    incident = {i.product: i.id for i in IncidentStore(MetadataDB(f"sqlite:///{home / 'metadata.db'}")).incidents()}
    pages = {
        "home": ("/", 0),
        "alerts": ("/alerts", 0),
        "chart": (chart_url("", ChartView(DATASOURCE, "ranking.ndcg", {"region": ("JP", "US", "DE")},
                                          start=date(2026, 1, 15), end=date(2026, 3, 31),
                                          incident=incident["recommend"])), 1),
        "chart-check": (chart_url("", ChartView("demand-forecaster", "rows.count",
                                                incident=incident["demand_forecaster"])), 1),
        "chart-rate": (chart_url("", ChartView("attribute-classifier", "churn.rate", start=date(2026, 2, 20),
                                               end=date(2026, 3, 31), compare=True)), 1),
        "explorer": (f"/explorer?datasource={DATASOURCE}", 4),
        "dashboard": ("/dashboards?id=1", 4),
    }  # fmt: skip
    try:
        with sync_playwright() as playwright:
            browser = launch(playwright)
            context = browser.new_context(viewport={"width": 1400, "height": 900}, timezone_id="UTC")
            context.set_default_timeout(120_000)
            for number, (name, (path, charts)) in enumerate(pages.items()):
                page = context.new_page()
                page.goto(server.url + path)
                if number == 0:  # once: the session cookie signs in the other pages
                    page.get_by_label("Username").fill("pm")
                    page.get_by_label("Password", exact=True).fill("pm-password")
                    page.get_by_role("button", name="Sign in", exact=True).click()
                page.get_by_text("Signed in as Product manager").wait_for()  # the display name, not the username
                for index in range(charts):
                    chart_layers(page, index=index, timeout=120)  # every chart drew its data
                if name == "alerts":  # the newest incident opened: its series, acknowledge and silence
                    wait_idle(page, timeout=120)
                    page.locator("summary").first.click()
                wait_idle(page, timeout=120)
                page.wait_for_timeout(1000)  # let the last canvas paint
                page.screenshot(path=str(HERE / f"{name}.png"), full_page=True)
                print(f"wrote {HERE / f'{name}.png'}")
                while not any(c["name"] == SESSION_COOKIE for c in context.cookies()):
                    page.wait_for_timeout(100)  # the sign-in's cookie, for the next pages
                page.close()
            browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
