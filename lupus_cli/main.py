"""The `lupus` command."""

import typer

app = typer.Typer(help="Lupus: monitoring for machine-learning products.", no_args_is_help=True)
