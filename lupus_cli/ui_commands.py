"""Commands of the `lupus` CLI contributed by the app: `lupus serve ui`, `lupus user add`, `lupus team add`, `lupus grant`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from lupus_cli.names import check_datasource, check_team, check_user

# The ASGI entry (Streamlit plus the sign-in cookie route); streamlit_app/.streamlit/config.toml next to it
# turns usage statistics and the Deploy button off, however the app is started.
APP = Path(__file__).resolve().parents[1] / "streamlit_app" / "server.py"

user_app = typer.Typer(help="Local accounts of the app (passwords stored as Argon2id hashes).", no_args_is_help=True)
team_app = typer.Typer(help="Teams: own datasources, group users.", no_args_is_help=True)


def streamlit_command(*, port: int, address: str, headless: bool = True) -> list[str]:
    """The `streamlit run` command line that serves the app."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.port", str(port), "--server.address", address,
        "--server.headless", "true" if headless else "false",
    ]  # fmt: skip


def serve_ui(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8501,
    address: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
) -> None:
    """Start the Lupus app (Streamlit) on the store and metadata database of LUPUS_HOME.

    A sign-in lasts LUPUS_UI_SESSION_HOURS hours (default 168) across reloads and tabs.
    """
    from lupus_store.metadata import MetadataDB

    MetadataDB().upgrade()  # sign-in needs the schema; do it before the first page view
    typer.echo(f"Lupus app on http://{address}:{port} (create an account with `lupus user add`)")
    raise typer.Exit(subprocess.call(streamlit_command(port=port, address=address), env=os.environ.copy()))


def user_add(
    username: Annotated[str, typer.Argument(callback=check_user)],
    team: Annotated[
        list[str], typer.Option(help="Team to join (created when missing); repeat for several.", callback=check_team)
    ] = [],  # noqa: B006
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    admin: Annotated[bool, typer.Option("--admin", help="Administrator: reads every datasource.")] = False,
    display_name: Annotated[str | None, typer.Option(help="Name shown in the app.")] = None,
) -> None:
    """Create a local account (or add teams / reset the password of an existing one)."""
    from lupus_store.metadata import MetadataDB
    from streamlit_app.accounts import add_user

    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if password is not None and len(password) < 8:
        typer.echo("password too short: at least 8 characters", err=True)
        raise typer.Exit(2)
    db = MetadataDB()
    db.upgrade()
    user_id = add_user(db, username, teams=team, password=password, is_admin=admin, display_name=display_name)
    typer.echo(
        f"user {username} (id {user_id})" + (f" in {', '.join(team)}" if team else "") + (" admin" if admin else "")
    )


def team_add(name: Annotated[str, typer.Argument(callback=check_team)]) -> None:
    """Create a team."""
    from lupus_store.metadata import MetadataDB
    from streamlit_app.accounts import ensure_team

    db = MetadataDB()
    db.upgrade()
    typer.echo(f"team {name} (id {ensure_team(db, name)})")


def grant(
    datasource: Annotated[str, typer.Argument(callback=check_datasource)],
    team: Annotated[str, typer.Argument(callback=check_team)],
    level: Annotated[str, typer.Option(help="read, write or admin.")] = "read",
    owner: Annotated[bool, typer.Option("--owner", help="Register DATASOURCE as owned by TEAM instead.")] = False,
) -> None:
    """Let TEAM read (or write/admin) DATASOURCE; with --owner, register DATASOURCE as TEAM's."""
    from lupus_store.metadata import MetadataDB
    from streamlit_app.accounts import grant as grant_access
    from streamlit_app.accounts import register_datasource

    if level not in ("read", "write", "admin"):
        typer.echo("level must be read, write or admin", err=True)
        raise typer.Exit(2)
    db = MetadataDB()
    db.upgrade()
    try:
        if owner:
            register_datasource(db, datasource, team=team)
        else:
            grant_access(db, datasource, team, level)
    except ValueError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from error
    typer.echo(f"{team}: {'owner' if owner else level} of {datasource}")


def register(app: typer.Typer, serve: typer.Typer) -> None:
    """Add this part's commands to the top-level app and to `lupus serve`."""
    serve.command("ui")(serve_ui)
    user_app.command("add")(user_add)
    team_app.command("add")(team_add)
    app.add_typer(user_app, name="user")
    app.add_typer(team_app, name="team")
    app.command("grant")(grant)
