"""Starting the Dagster UI (and the Streamlit app when present) for the demo, and stopping them cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import typer

REPO = Path(__file__).resolve().parents[1]


def start_dagster_dev(home: Path, port: int = 3000, workspace: Path | None = None) -> subprocess.Popen[bytes]:
    """`dagster dev` on 127.0.0.1:<port> in its own process group, with default signal handlers.

    A background `dagster dev` inherits ignored SIGINT/SIGTERM from a non-interactive shell and
    then cannot be stopped; restoring the defaults in the child avoids that. ``workspace``
    defaults to the repository's `workspace.yaml` (the Lupus code location alone).
    """
    env = {**os.environ, "DAGSTER_HOME": os.environ.get("DAGSTER_HOME", str(home / "dagster"))}
    command = ["dagster", "dev", "-w", str(workspace or REPO / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)]
    return subprocess.Popen(
        [sys.executable, "-m", *command],
        cwd=REPO,
        env=env,
        start_new_session=True,
        preexec_fn=_default_signals,
    )


def wait_for_http(url: str, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def stop(process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """SIGINT to the whole process group (dagster dev's own shutdown), SIGKILL if it hangs."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def start_streamlit(port: int = 8501) -> subprocess.Popen[bytes]:
    """The Lupus app (``lupus serve ui``'s command line) on 127.0.0.1:<port>, in its own process group."""
    from lupus_cli.ui_commands import streamlit_command

    return subprocess.Popen(
        streamlit_command(port=port, address="127.0.0.1"), cwd=REPO, start_new_session=True, preexec_fn=_default_signals
    )


def serve_demo(home: Path) -> None:
    """Start both UIs at once, say when each answers, wait for Ctrl-C."""
    began = time.monotonic()
    typer.echo("==> [serve] starting the Dagster UI (dagster dev) and the Lupus app (streamlit)")
    processes = [start_dagster_dev(home), start_streamlit()]
    try:
        waits = [("Lupus app:    ", "http://127.0.0.1:8501", "/_stcore/health"),
                 ("Dagster UI:   ", "http://127.0.0.1:3000", "/server_info")]  # fmt: skip
        for label, url, probe in waits:
            wait_for_http(url + probe)
            typer.echo(f"{label} {url}  (up after {time.monotonic() - began:.0f} s)")
        typer.echo("Dagster UI: lineage, runs, per-partition checks. App sign-in: demo / demo. Ctrl-C stops both.")
        while all(p.poll() is None for p in processes):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes:
            stop(process)


def _default_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
