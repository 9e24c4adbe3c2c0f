"""Commands of the `lupus` CLI contributed by this part of Lupus (see register)."""

from __future__ import annotations

import typer


def register(app: typer.Typer, serve: typer.Typer) -> None:
    """Add this part's commands to the top-level app and to `lupus serve`."""
