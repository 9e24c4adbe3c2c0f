"""Commands of the `lupus` CLI contributed by this part of Lupus (see register): `lupus index ...`."""

from __future__ import annotations

from typing import Annotated

import typer

from lupus_cli.names import check_datasource


def register(app: typer.Typer, serve: typer.Typer) -> None:
    """Add this part's commands to the top-level app and to `lupus serve`."""
    index_app = typer.Typer(
        help="The optional search index (OpenSearch / Elasticsearch; see docs/search.md).", no_args_is_help=True
    )
    app.add_typer(index_app, name="index")

    @index_app.command("rebuild")
    def rebuild_command(
        datasource: Annotated[
            str | None, typer.Option(help="Re-index only this datasource (default: all).", callback=check_datasource)
        ] = None,
    ) -> None:
        """Re-index points and anomalies from the Parquet store (LUPUS_STORE) into LUPUS_SEARCH_URL."""
        from lupus_store import MetricStore
        from lupus_store.config import store_root
        from lupus_store.search import rebuild

        settings = _settings()
        report = rebuild(MetricStore(store_root()), settings.index(), datasource=datasource, queue=settings.queue())
        for name, rows in report.indexed.items():
            typer.echo(f"{name}: {rows:,} documents")
        typer.echo(f"indexed {report.rows:,} documents in {report.seconds:.1f} s")
        if report.failures:
            for failure in report.failures[:10]:
                typer.echo(
                    f"rejected {failure.doc_id} in {failure.index} ({failure.status}): {failure.reason}", err=True
                )
            typer.echo(f"{len(report.failures)} document(s) rejected; old rows kept for those datasources", err=True)
            raise typer.Exit(1)

    @index_app.command("catch-up")
    def catch_up_command(
        datasource: Annotated[
            str | None, typer.Option(help="Retry only this datasource's queued writes.", callback=check_datasource)
        ] = None,
    ) -> None:
        """Retry the index writes queued while the index was down or rejected documents."""
        from lupus_store import MetricStore
        from lupus_store.config import store_root
        from lupus_store.search import IndexedMetricStore

        settings = _settings()
        store = IndexedMetricStore(MetricStore(store_root()), settings.index(), settings.queue())
        report = store.catch_up(datasource)
        typer.echo(f"landed {report.landed} queued write(s); {report.still_pending} still pending")
        if report.error or report.still_pending:
            if report.error:
                typer.echo(report.error, err=True)
            raise typer.Exit(1)


def _settings():
    from lupus_store.search import SearchSettings

    settings = SearchSettings.from_env()
    if settings is None:
        typer.echo("LUPUS_SEARCH_URL is not set: no search index is configured (see docs/search.md)", err=True)
        raise typer.Exit(2)
    return settings
