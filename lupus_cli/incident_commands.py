"""Commands of the `lupus` CLI for incidents (see register): `lupus incidents`, `lupus silence`, `lupus rules`,
`lupus backtest`. They read and write the metadata database (LUPUS_METADATA_URL) directly, like `lupus token`."""

from __future__ import annotations

import getpass
import json
import os
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

DURATION = re.compile(r"^(\d+(?:\.\d+)?)([mhdw])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def register(app: typer.Typer, serve: typer.Typer) -> None:
    """Add this part's commands to the top-level app."""
    incidents_app = typer.Typer(help="Incidents: list, show, acknowledge with a verdict, resolve.")
    silence_app = typer.Typer(help="Silences: alerts that match are recorded, not posted, until they end.",
                              no_args_is_help=True)  # fmt: skip
    app.add_typer(incidents_app, name="incidents")
    app.add_typer(silence_app, name="silence")

    @incidents_app.callback(invoke_without_command=True)
    def incidents_list(
        ctx: typer.Context,
        status: Annotated[
            str, typer.Option(help="active (open, acknowledged), open, acknowledged, resolved, all.")
        ] = "active",
        product: Annotated[str | None, typer.Option(help="Only this product.")] = None,
        datasource: Annotated[str | None, typer.Option(help="Only this datasource.")] = None,
        since: Annotated[
            str | None, typer.Option(help="Incidents with an alert on or after this day (YYYY-MM-DD).")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="One JSON document per incident.")] = False,
    ) -> None:
        """List incidents, active first (the default command of `lupus incidents`)."""
        if ctx.invoked_subcommand is not None:
            return
        store = _store()
        found = store.incidents(
            status=None if status == "all" else status, product=product,
            datasources=[datasource] if datasource else None, since=_day(since, "--since") if since else None,
        )  # fmt: skip
        for incident in found:
            if as_json:
                typer.echo(json.dumps(incident.to_json(members=False), ensure_ascii=False))
            else:
                typer.echo(_line(incident))
        if not found and not as_json:
            typer.echo("no incidents")

    @incidents_app.command("show")
    def incidents_show(incident_id: int) -> None:
        """One incident: headline, status, top slices and every alert with its chart link."""
        incident = _store().incident(incident_id)
        if incident is None:
            _fail(f"no incident with id {incident_id}")
        typer.echo(_line(incident))
        for item in incident.top_slices:
            labels = ", ".join(f"{k}={v}" for k, v in item["labels"].items())
            typer.echo(f"  slice {labels}: {item['share'] * 100:.0f} % of the change ({item['effect']})")
        if incident.verdict:
            typer.echo(
                f"  verdict {incident.verdict} by {incident.acknowledged_by}"
                + (f": {incident.note}" if incident.note else "")
            )
        for member in incident.members:
            link = f"  {member.alert.link}" if member.alert.link else ""
            typer.echo(f"  {member.day} [{member.status}] {member.rule or ''} {member.alert.summary()}{link}")

    @incidents_app.command("ack")
    def incidents_ack(
        incident_id: int,
        verdict: Annotated[str, typer.Option(help="real, false_alarm or expected.")],
        note: Annotated[str | None, typer.Option(help="Why, for the record.")] = None,
        by: Annotated[str | None, typer.Option(help="Who (default: your login name).")] = None,
    ) -> None:
        """Acknowledge an incident with a verdict: real problem, false alarm, or expected (e.g. a planned release)."""
        from lupus_metrics.errors import LupusValidationError
        from lupus_store.incidents import IncidentNotFoundError

        try:
            incident = _store().acknowledge(incident_id, verdict=verdict, by=by or _who(), note=note)
        except (LupusValidationError, IncidentNotFoundError) as err:
            _fail(str(err))
        typer.echo(
            f"incident #{incident.id} {incident.status}, verdict {incident.verdict} by {incident.acknowledged_by}"
        )

    @incidents_app.command("resolve")
    def incidents_resolve(
        incident_id: int,
        note: Annotated[str | None, typer.Option(help="What fixed it.")] = None,
        by: Annotated[str | None, typer.Option(help="Who (default: your login name).")] = None,
    ) -> None:
        """Resolve an incident by hand (a later alert of its series opens a new one)."""
        from lupus_store.incidents import IncidentNotFoundError

        try:
            incident = _store().resolve(incident_id, by=by or _who(), note=note)
        except IncidentNotFoundError as err:
            _fail(str(err))
        typer.echo(f"incident #{incident.id} resolved by {incident.resolved_by}")

    @silence_app.command("add")
    def silence_add(
        reason: Annotated[str, typer.Option(help="Why (shown to whoever wonders why nothing was posted).")],
        datasource: Annotated[str | None, typer.Option(help="Datasource (default: the product's).")] = None,
        product: Annotated[str | None, typer.Option(help="Only this product.")] = None,
        metric: Annotated[str, typer.Option(help="Metric glob; check:<name>, freshness, no_data for others.")] = "*",
        label: Annotated[list[str] | None, typer.Option(help="key=glob; repeat for several.")] = None,
        duration: Annotated[str | None, typer.Option("--for", help="How long: 30m, 2h, 3d, 1w.")] = None,
        until: Annotated[str | None, typer.Option(help="Until this time (ISO 8601; UTC unless it says).")] = None,
        author: Annotated[str | None, typer.Option(help="Who (default: your login name).")] = None,
    ) -> None:
        """Silence matching alerts for a while."""
        from lupus_metrics.errors import LupusValidationError

        if (duration is None) == (until is None):
            _fail("give exactly one of --for and --until")
        datasource = datasource or (_spec(product).datasource if product else None)
        if not datasource:
            _fail("give --datasource, or --product to use its datasource")
        try:
            silence = _store().add_silence(
                datasource=datasource, product=product, metric=metric, labels=_labels(label or []),
                duration=_duration(duration) if duration else None, ends_at=_time(until) if until else None,
                author=author or _who(), reason=reason,
            )  # fmt: skip
        except LupusValidationError as err:
            _fail(str(err))
        typer.echo(f"silence {silence.id} until {silence.ends_at:%Y-%m-%d %H:%M %Z}: {_silence_text(silence)}")

    @silence_app.command("list")
    def silence_list(
        show_all: Annotated[bool, typer.Option("--all", help="Ended silences too.")] = False,
        datasource: Annotated[str | None, typer.Option(help="Only this datasource.")] = None,
    ) -> None:
        """Silences in force (or all of them)."""
        found = _store().silences(datasources=[datasource] if datasource else None,
                                  active_at=None if show_all else datetime.now(UTC))  # fmt: skip
        for silence in found:
            state = "active" if silence.active() else "ended"
            typer.echo(f"{silence.id}  {state}  {silence.starts_at:%Y-%m-%d %H:%M} .. {silence.ends_at:%Y-%m-%d %H:%M}"
                       f"  {_silence_text(silence)}  by {silence.author}: {silence.reason}")  # fmt: skip
        if not found:
            typer.echo("no silences")

    @silence_app.command("end")
    def silence_end(silence_id: int) -> None:
        """End a silence now (its alerts are posted if their incident is still open)."""
        try:
            silence = _store().expire_silence(silence_id)
        except LookupError as err:
            _fail(str(err))
        typer.echo(f"silence {silence.id} ended at {silence.ends_at:%Y-%m-%d %H:%M %Z}")

    @app.command("rules")
    def rules(product: Annotated[str | None, typer.Option(help="Only this product.")] = None) -> None:
        """Each alerting rule's measured precision: real / judged incidents it had an alert in."""
        from lupus_dagster.sensors.policy import rules_text

        specs = {spec.product: spec for spec in _specs()}
        found = _store().rule_precision(product=product)
        seen = {(item.product, item.rule) for item in found}
        rows = [(item.product, item.rule, item) for item in found]
        for name, spec in specs.items():
            if product in (None, name):
                rows += [(name, rule, None) for rule in rules_text(spec.detect) if (name, rule) not in seen]
        typer.echo(f"{'product':<24}{'rule':<22}{'incidents':>10}{'judged':>8}{'real':>6}{'false':>7}{'expected':>10}"
                   f"{'precision':>11}  what")  # fmt: skip
        for name, rule, item in sorted(rows, key=lambda row: (row[0], row[1])):
            what = rules_text(specs[name].detect).get(rule, "") if name in specs else ""
            if item is None:
                typer.echo(f"{name:<24}{rule:<22}{0:>10}{0:>8}{0:>6}{0:>7}{0:>10}{'n/a':>11}  {what}")
                continue
            precision = f"{item.precision * 100:.0f} %" if item.precision is not None else "n/a"
            typer.echo(f"{name:<24}{rule:<22}{item.incidents:>10}{item.judged:>8}{item.real:>6}{item.false_alarm:>7}"
                       f"{item.expected:>10}{precision:>11}  {what}")  # fmt: skip

    @app.command("backtest")
    def backtest(
        product: str,
        spec: Annotated[Path | None, typer.Option(help="A proposed defs.yaml (default: the product's own).")] = None,
        days: Annotated[int, typer.Option(min=1, help="Replay the last N stored days.")] = 90,
        as_json: Annotated[bool, typer.Option("--json", help="One JSON document per incident.")] = False,
    ) -> None:
        """Replay a product's rules (or a proposed spec) over stored history; print the incidents they would raise.

        Exits 2 when the spec is broken (so it can run in a pull request's CI), 1 when the
        datasource has no stored history.
        """
        from lupus_dagster.components.product_loader import ProductSpecError, read_product
        from lupus_dagster.sensors.replay import replay
        from lupus_store import MetricStore
        from lupus_store.config import store_root

        if spec is not None:
            try:
                chosen = read_product(spec)
            except ProductSpecError as err:
                _fail(str(err), code=2)
            if chosen.product != product:
                _fail(f"{spec}: product: is {chosen.product!r}, not {product!r}", code=2)
        else:
            chosen = _spec(product)
        result = replay(chosen, MetricStore(store_root()), days=days, teams=_teams())
        if result.first is None:
            _fail(f"no stored history for datasource {chosen.datasource!r} (LUPUS_STORE={store_root()})", code=1)
        if as_json:
            for incident in result.incidents:
                typer.echo(json.dumps(incident.to_json(), ensure_ascii=False))
            return
        typer.echo(f"{product}: {len(result.incidents)} incident(s) from {result.alerts} alert(s) "
                   f"in {(result.last - result.first).days + 1} days ({result.first} .. {result.last})")  # fmt: skip
        for incident in result.incidents:
            typer.echo(_line(incident))
        for rule, (alerts, incidents) in result.by_rule().items():
            typer.echo(f"  {rule}: {alerts} alert(s) in {incidents} incident(s)")
        if result.failed_check_days:
            typer.echo(f"  check ge_validation failed on {len(result.failed_check_days)} day(s)")
        for error in result.errors[:10]:
            typer.echo(f"  detection failed: {error}", err=True)


def _line(incident) -> str:
    days = f"{incident.start_day}" + (f" .. {incident.last_day}" if incident.last_day != incident.start_day else "")
    verdict = f" verdict {incident.verdict}" if incident.verdict else ""
    return f"#{incident.id:<5} {days:<24} {incident.status:<12} {incident.severity:<8}{verdict} {incident.headline}"


def _store():
    from lupus_store.incidents import IncidentStore

    return IncidentStore()


def _specs():
    from lupus_dagster.components.product_loader import load_products

    specs, _ = load_products(_products_dir())
    return specs


def _spec(product: str):
    for spec in _specs():
        if spec.product == product:
            return spec
    _fail(f"no product {product!r} under {_products_dir()}", code=2)


def _teams():
    from lupus_dagster.resources.routing import load_teams, teams_file

    return load_teams(teams_file(_products_dir()))


def _products_dir() -> Path:
    from lupus_dagster.components.monitored_product import DEFAULT_PRODUCTS_DIR

    return Path(os.environ.get("LUPUS_PRODUCTS_DIR") or DEFAULT_PRODUCTS_DIR)


def _labels(items: list[str]) -> dict[str, str]:
    labels = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            _fail(f"--label {item!r} must be key=glob")
        labels[key] = value
    return labels


def _duration(text: str) -> timedelta:
    match = DURATION.match(text.strip())
    if not match:
        _fail(f"--for {text!r} must be a number and a unit: 30m, 2h, 3d, 1w")
    return timedelta(**{UNITS[match.group(2)]: float(match.group(1))})


def _time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        _fail(f"--until {text!r} is not an ISO 8601 time (e.g. 2026-11-01T09:00)")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(f"{option} {text!r} is not a date (YYYY-MM-DD)")


def _silence_text(silence) -> str:
    labels = "".join(f" {k}={v}" for k, v in silence.labels.items())
    return f"{silence.datasource}/{silence.product or '*'} {silence.metric}{labels}"


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _fail(message: str, *, code: int = 1):
    typer.echo(message, err=True)
    raise typer.Exit(code)
