"""`lupus backfill`: a product's history as ranged Dagster runs, recorded in the instance of DAGSTER_HOME."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

import typer


def register(app: typer.Typer, serve: typer.Typer) -> None:
    """Add ``lupus backfill`` to the top-level app."""

    @app.command("backfill")
    def backfill(
        product: Annotated[str, typer.Argument(help="The product's name (its `product:` field).")],
        start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD.")],
        end: Annotated[str, typer.Option(help="Last day, YYYY-MM-DD (inclusive).")],
        days_per_run: Annotated[int | None, typer.Option(help="Days per Dagster run (default: the spec's).")] = None,
    ) -> None:
        """Materialize a product's metrics, checks and anomalies for a range of days, many days per run.

        Runs in this process on the Dagster instance of DAGSTER_HOME (PostgreSQL in production,
        see docs/deployment.md), so the Dagster UI shows each run with its partitions.
        """
        import dagster as dg

        from lupus_dagster.components.product_loader import load_products
        from lupus_dagster.definitions import PRODUCTS_DIR
        from lupus_dagster.demo.backfill import backfill_product
        from lupus_dagster.resources.shared import shared_resources

        first, last = _day(start, "--start"), _day(end, "--end")
        if last < first:
            raise typer.BadParameter(f"--end {last} is before --start {first}")
        specs, _ = load_products(PRODUCTS_DIR)
        spec = next((s for s in specs if s.product == product), None)
        if spec is None:
            known = ", ".join(sorted(s.product for s in specs)) or "none"
            typer.echo(f"no valid product {product!r} under {PRODUCTS_DIR} (known: {known})", err=True)
            raise typer.Exit(2)
        if days_per_run:
            spec = spec.model_copy(
                update={"partitions": spec.partitions.model_copy(update={"days_per_run": days_per_run})}
            )
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        days = [day for day in days if day >= spec.partitions.start]
        resources = shared_resources()
        if spec.source.kind != "spark_table":
            resources.pop("pyspark")  # a Spark session would start a JVM for nothing
        typer.echo(f"==> [backfill] {product}: {len(days)} days from {days[0] if days else '-'}, "
                   f"{spec.partitions.days_per_run} per run")  # fmt: skip
        outcomes = backfill_product(
            spec,
            days,
            instance=dg.DagsterInstance.get(),
            resources=resources,
            on_run=lambda a, b, seconds: typer.echo(f"    run {a} .. {b}: {seconds:.1f} s"),
        )
        bad = [o for o in outcomes if not o.success or o.check_passed is False]
        for outcome in bad:
            reason = outcome.failure or "check ge_validation failed (no detection on this day)"
            typer.echo(f"    {outcome.day}: {reason}")
        typer.echo(f"{len(outcomes) - len(bad)} days ok, {len(bad)} failed or blocked, "
                   f"{sum(o.anomalies for o in outcomes)} anomalies")  # fmt: skip
        if any(not o.success for o in outcomes):
            raise typer.Exit(1)


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{option} must be a date YYYY-MM-DD, got {text!r}") from None
