"""Commands of the `lupus` CLI contributed by this part of Lupus (see register)."""

from __future__ import annotations

import typer


def register(app: typer.Typer, serve: typer.Typer) -> None:
    """Add this part's commands to the top-level app and to `lupus serve`."""

    @serve.command("api")
    def serve_api(
        host: str = typer.Option("127.0.0.1", help="Interface to listen on (0.0.0.0 for every interface)."),
        port: int = typer.Option(8000, help="TCP port."),
        workers: int = typer.Option(1, help="Server processes (each runs its own ingest worker threads)."),
        log_level: str = typer.Option("info", help="uvicorn log level."),
    ) -> None:
        """Start the REST API (uvicorn): /api/v1, OpenAPI at /api/v1/docs.

        Configuration comes from the environment: LUPUS_HOME, LUPUS_STORE, LUPUS_METADATA_URL,
        LUPUS_STAGING, LUPUS_DAGSTER_URL and the LUPUS_API_* limits (see docs/api.md).
        """
        import uvicorn

        # Each worker process re-imports the `lupus` command (Lupus, pandas, DuckDB...) before it answers
        # uvicorn's health check; on a busy machine that took longer than uvicorn's 5 s, and the
        # supervisor killed and restarted workers forever.
        uvicorn.run(
            "lupus_api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=False,
            timeout_worker_healthcheck=60,
        )
