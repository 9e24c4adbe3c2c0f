"""The `lupus` command: demo, store maintenance, metadata database, API tokens."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from lupus_cli import api_commands, backfill_commands, incident_commands, index_commands, ui_commands
from lupus_cli.names import check_datasource, check_team, check_token_name
from lupus_store import MetricStore
from lupus_store.config import lupus_home, store_root
from lupus_store.metadata import MetadataDB

app = typer.Typer(help="Lupus: monitoring for machine-learning products.", no_args_is_help=True)
store_app = typer.Typer(help="Inspect and maintain the metric store.", no_args_is_help=True)
db_app = typer.Typer(help="The metadata database.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens (stored hashed; the token is shown once).", no_args_is_help=True)
app.add_typer(store_app, name="store")
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
serve_app = typer.Typer(help="Start a Lupus server.", no_args_is_help=True)
app.add_typer(serve_app, name="serve")


@app.command()
def demo(
    days: Annotated[int, typer.Option(help="How many days of history to generate and backfill.")] = 90,
    serve: Annotated[bool, typer.Option(help="Start the Dagster UI (and the app) afterwards.")] = True,
    today: Annotated[str | None, typer.Option(help="Pretend today is this date (YYYY-MM-DD).")] = None,
) -> None:
    """Run the whole pipeline on three synthetic products under LUPUS_HOME, then serve the UIs."""
    from datetime import date

    from lupus_dagster.demo.run import run_pipeline_demo

    if today:
        # The alert sensor's freshness deadlines use the pretended clock too (lupus_dagster.sensors.freshness).
        os.environ.setdefault("LUPUS_NOW", f"{today}T00:00:00+00:00")
    summary = run_pipeline_demo(lupus_home(), days=days, today=date.fromisoformat(today) if today else None,
                                say=typer.echo)  # fmt: skip
    _demo_accounts()
    typer.echo(f"\nDone in {summary.seconds:.0f} s. Lupus home: {summary.home}")
    typer.echo(f"Metric store:  {store_root()}")
    for path in summary.alert_files:
        lines = path.read_text().splitlines()
        typer.echo(f"Alerts:        {path} ({len(lines)} messages)")
        for line in lines:
            message = json.loads(line)
            text = message.get("headline") or "; ".join(_alert_line(a) for a in message.get("alerts", [])[:3])
            typer.echo(f"  {message.get('product')} {message.get('day')}: {text}")
    if serve:
        from lupus_cli.serve import serve_demo

        serve_demo(summary.home)


DEMO_USER, DEMO_PASSWORD = "demo", "demo"


def _demo_accounts() -> None:
    """Register the demo products' datasources under their teams and a `demo` user in all of them."""
    from lupus_dagster.components.product_loader import load_products
    from lupus_dagster.demo.run import DEMO_PRODUCTS
    from streamlit_app.accounts import add_user, register_datasource

    db = MetadataDB()
    db.upgrade()
    specs, _ = load_products(DEMO_PRODUCTS)
    for spec in specs:
        register_datasource(db, spec.datasource, team=spec.team, description=spec.description)
    add_user(db, DEMO_USER, teams=sorted({s.team for s in specs}), password=DEMO_PASSWORD, display_name="Demo user")
    typer.echo(
        f"App sign-in:   user {DEMO_USER!r}, password {DEMO_PASSWORD!r} (teams {', '.join(sorted({s.team for s in specs}))})"
    )


def _alert_line(alert: dict) -> str:
    labels = ",".join(f"{k}={v}" for k, v in sorted((alert.get("labels") or {}).items()))
    what = alert.get("metric") or alert.get("check") or alert.get("kind")
    value = alert.get("value")
    return f"{what}{{{labels}}}" + (f" = {value:.4g}" if isinstance(value, (int, float)) else "")


@store_app.command("ls")
def store_ls() -> None:
    """List the datasources in the store."""
    store = MetricStore(store_root())
    for name in store.list_datasources():
        typer.echo(name)


@store_app.command("series")
def store_series(datasource: Annotated[str, typer.Argument(callback=check_datasource)]) -> None:
    """List the series of a datasource with their point counts and time span."""
    frame = MetricStore(store_root()).list_series(datasource)
    for row in frame.itertuples():
        labels = ",".join(f"{k}={v}" for k, v in sorted(row.labels.items()))
        typer.echo(f"{row.series_id}  {row.metric}{{{labels}}}  {row.points} points  {row.first_ts} .. {row.last_ts}")


@store_app.command("compact")
def store_compact(datasource: Annotated[str, typer.Argument(callback=check_datasource)]) -> None:
    """Merge a datasource's day files into monthly files (query results do not change)."""
    report = MetricStore(store_root()).compact(datasource)
    for line in report.details:
        typer.echo(line)
    typer.echo(
        f"{report.files_before} files -> {report.files_after}; {report.stale_tmp_removed} stale temporary files removed"
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the metadata database schema (LUPUS_METADATA_URL or SQLite in LUPUS_HOME)."""
    db = MetadataDB()
    db.upgrade()
    typer.echo(f"{db!r} at revision {db.current_revision()}")


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(callback=check_token_name)],
    scope: Annotated[list[str], typer.Option(help="read, write or admin; repeat for several.")],
    team: Annotated[
        str | None, typer.Option(help="Bind the token to this team's datasources.", callback=check_team)
    ] = None,
    datasource: Annotated[
        str | None, typer.Option(help="Bind the token to one datasource.", callback=check_datasource)
    ] = None,
    expires_in_days: Annotated[int | None, typer.Option(help="Expire after this many days.")] = None,
) -> None:
    """Create an API token and print it once."""
    from lupus_store.metadata.tokens import issue_token

    db = MetadataDB()
    db.upgrade()
    expires = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    issued = issue_token(db, name=name, scopes=scope, team=team, datasource=datasource, expires_at=expires)
    typer.echo(f"token id {issued.id} ({','.join(issued.scopes)}): {issued.token}")
    typer.echo("Store it now: Lupus keeps only its hash.", err=True)


@token_app.command("list")
def token_list() -> None:
    """List tokens (prefix, scopes, binding, expiry, revocation)."""
    from lupus_store.metadata.tokens import list_tokens

    for t in list_tokens(MetadataDB()):
        state = "revoked" if t.revoked_at else (f"expires {t.expires_at:%Y-%m-%d}" if t.expires_at else "no expiry")
        typer.echo(f"{t.id}  {t.token_prefix}…  {t.name}  [{t.scopes}]  {state}")


@token_app.command("revoke")
def token_revoke(token_id: int) -> None:
    """Revoke a token by id."""
    from lupus_store.metadata.tokens import revoke_token

    if not revoke_token(MetadataDB(), token_id):
        typer.echo(f"no token with id {token_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked token {token_id}")


for _part in (api_commands, ui_commands, index_commands, backfill_commands, incident_commands):
    _part.register(app, serve_app)
