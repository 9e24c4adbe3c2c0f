"""Routing: a team's default channel, overridden per product and per severity; the teams file's errors."""

from pathlib import Path

import pytest

from lupus_dagster.components.product_loader import ProductSpecError, product_definitions
from lupus_dagster.product_spec import ProductSpec
from lupus_dagster.resources.notifier import AlertChannel
from lupus_dagster.resources.routing import Routes, TeamRoute, TeamsFileError, load_teams
from lupus_dagster.sensors.policy import AlertPolicy

BASE = {"product": "shop", "team": "growth", "datasource": "shop", "partitions": {"start": "2026-01-01"},
        "source": {"parquet": "shop/{date}.parquet"}}  # fmt: skip
TEAMS = """\
teams:
  growth:
    channel: {kind: slack, url_env: LUPUS_SLACK_GROWTH}
    severity:
      critical: {kind: webhook, url_env: LUPUS_PAGER_GROWTH}
"""


def spec(**alerts) -> ProductSpec:
    return ProductSpec.model_validate({**BASE, "alerts": alerts})


def channels(policy: AlertPolicy) -> tuple[str | None, str | None]:
    return policy.routes.channel_for("warning").url_env, policy.routes.channel_for("critical").url_env


def test_a_product_without_a_channel_uses_its_teams_default_and_severity_channels(tmp_path: Path):
    (tmp_path / "teams.yaml").write_text(TEAMS)
    teams = load_teams(tmp_path / "teams.yaml")
    assert channels(AlertPolicy.from_spec(spec(), teams)) == ("LUPUS_SLACK_GROWTH", "LUPUS_PAGER_GROWTH")


def test_a_products_channel_overrides_the_teams_default_but_not_its_severity_channel(tmp_path: Path):
    (tmp_path / "teams.yaml").write_text(TEAMS)
    policy = AlertPolicy.from_spec(spec(kind="slack", url_env="LUPUS_SLACK_SHOP"), load_teams(tmp_path / "teams.yaml"))
    assert channels(policy) == ("LUPUS_SLACK_SHOP", "LUPUS_PAGER_GROWTH")


def test_a_products_severity_channel_overrides_everything_for_that_severity(tmp_path: Path):
    (tmp_path / "teams.yaml").write_text(TEAMS)
    product = spec(kind="slack", url_env="LUPUS_SLACK_SHOP",
                   severity={"critical": {"kind": "webhook", "url_env": "LUPUS_PAGER_SHOP"}})  # fmt: skip
    assert channels(AlertPolicy.from_spec(product, load_teams(tmp_path / "teams.yaml"))) == (
        "LUPUS_SLACK_SHOP", "LUPUS_PAGER_SHOP",
    )  # fmt: skip


def test_without_any_channel_incidents_go_to_the_console():
    assert Routes().channel_for("critical") == AlertChannel(kind="console")
    assert AlertPolicy.from_spec(spec(), {}).routes.channel_for("warning").kind == "console"


def test_relative_file_channels_of_a_team_live_in_lupus_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LUPUS_HOME", str(tmp_path / "home"))
    (tmp_path / "teams.yaml").write_text("teams:\n  growth:\n    channel: {kind: file, path: alerts/growth.jsonl}\n")
    assert load_teams(tmp_path / "teams.yaml")["growth"].channel.path == str(tmp_path / "home" / "alerts/growth.jsonl")


def test_a_broken_teams_file_names_the_file_and_the_field(tmp_path: Path):
    path = tmp_path / "teams.yaml"
    path.write_text("teams:\n  growth:\n    channel: {kind: slack}\n")
    with pytest.raises(TeamsFileError, match=r"teams.yaml: teams.growth.channel: .*url_env"):
        load_teams(path)
    path.write_text("teams: [growth]\n")
    with pytest.raises(TeamsFileError, match="teams: must be a mapping"):
        load_teams(path)
    assert load_teams(tmp_path / "missing.yaml") == {}


def test_a_broken_teams_file_is_visible_and_fails_strict_loading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    products = tmp_path / "products"
    products.mkdir()
    (tmp_path / "teams.yaml").write_text("teams:\n  growth:\n    severity: {urgent: {kind: console}}\n")
    monkeypatch.delenv("LUPUS_STRICT_DEFS", raising=False)
    monkeypatch.delenv("DAGSTER_IS_DEFS_VALIDATION_CLI", raising=False)
    monkeypatch.delenv("LUPUS_TEAMS_FILE", raising=False)
    keys = {spec.key.to_user_string() for spec in product_definitions(products).assets}
    assert "teams/spec_error" in keys
    monkeypatch.setenv("LUPUS_STRICT_DEFS", "1")
    with pytest.raises(ProductSpecError, match=r"teams\.growth\.severity\.urgent"):
        product_definitions(products)


def test_a_product_alerts_spec_needs_a_kind_with_a_target():
    with pytest.raises(ValueError, match="give kind"):
        spec(url_env="LUPUS_SLACK_SHOP")
    assert spec(slack_webhook_env="LUPUS_SLACK_SHOP").alerts.channel_settings() == {
        "kind": "slack",
        "url_env": "LUPUS_SLACK_SHOP",
    }


def test_team_routes_are_plain_models():
    route = TeamRoute.model_validate({"channel": {"kind": "console"}})
    assert route.severity == {} and route.channel.kind == "console"
