"""Routing: which channel an incident goes to, from the team's defaults and the product's overrides.

Teams declare their default channel, and optionally one per incident severity, in
``lupus_dagster/defs/teams.yaml`` (next to ``products/``; ``LUPUS_TEAMS_FILE`` points elsewhere),
reviewed by pull request like the products::

    teams:
      recsys:
        channel: {kind: slack, url_env: LUPUS_SLACK_RECSYS}
        severity:
          critical: {kind: webhook, url_env: LUPUS_PAGER_RECSYS}

A product's ``alerts`` may override both. The most specific setting wins, severity before
default and product before team: product + severity, team + severity, product, team, and
the console when nothing is set.

Example:
    >>> team = TeamRoute.model_validate({"channel": {"kind": "console"},
    ...                                  "severity": {"critical": {"kind": "file", "path": "/tmp/pager.jsonl"}}})
    >>> routes = Routes(product=AlertChannel(kind="file", path="/tmp/shop.jsonl"), team=team)
    >>> routes.channel_for("warning").path, routes.channel_for("critical").path
    ('/tmp/shop.jsonl', '/tmp/pager.jsonl')
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lupus_dagster.resources.notifier import AlertChannel
from lupus_store.config import lupus_home

Level = Literal["critical", "warning"]
CONSOLE = AlertChannel(kind="console")


class TeamRoute(BaseModel):
    """A team's default channel and its channels per incident severity."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: AlertChannel | None = None
    severity: dict[Level, AlertChannel] = Field(default_factory=dict)


class TeamsFileError(ValueError):
    """The teams file is unreadable or invalid; the message names the file and the field."""


@dataclass(frozen=True)
class Routes:
    """The channels one product's incidents may go to."""

    product: AlertChannel | None = None
    product_severity: dict[str, AlertChannel] = field(default_factory=dict)
    team: TeamRoute | None = None

    def channel_for(self, level: str) -> AlertChannel:
        team = self.team or TeamRoute()
        for channel in (self.product_severity.get(level), team.severity.get(level), self.product, team.channel):
            if channel is not None:
                return channel
        return CONSOLE


def channel_from_settings(settings: dict[str, Any] | None) -> AlertChannel | None:
    """An :class:`AlertChannel` from spec settings; a relative ``file`` path lives under ``LUPUS_HOME``."""
    if settings is None:
        return None
    settings = dict(settings)
    if settings.get("path") and not Path(settings["path"]).is_absolute():
        settings["path"] = str(lupus_home() / settings["path"])
    return AlertChannel(**settings)


def teams_file(products_dir: Path) -> Path:
    """``LUPUS_TEAMS_FILE``, else ``teams.yaml`` next to the products folder."""
    return Path(os.environ.get("LUPUS_TEAMS_FILE") or products_dir.parent / "teams.yaml")


def load_teams(path: Path) -> dict[str, TeamRoute]:
    """Team routes from ``path`` (none when the file does not exist)."""
    if not path.is_file():
        return {}
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise TeamsFileError(f"{path}: not readable YAML: {err}") from None
    teams = document.get("teams") if isinstance(document, dict) else None
    if not isinstance(teams, dict):
        raise TeamsFileError(f"{path}: teams: must be a mapping of team name to its channels")
    routes = {}
    for name, config in teams.items():
        try:
            route = TeamRoute.model_validate(config or {})
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise TeamsFileError(f"{path}: teams.{name}.{where}: {first['msg']}") from None
        routes[str(name)] = TeamRoute(
            channel=_resolved(route.channel),
            severity={level: _resolved(channel) for level, channel in route.severity.items()},
        )
    return routes


def _resolved(channel: AlertChannel | None) -> AlertChannel | None:
    if channel is None:
        return None
    return channel_from_settings(channel.model_dump(exclude_defaults=True) | {"kind": channel.kind})
