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


def start_dagster_dev(home: Path, port: int = 3000) -> subprocess.Popen[bytes]:
    """`dagster dev` on 127.0.0.1:<port> in its own process group, with default signal handlers.

    A background `dagster dev` inherits ignored SIGINT/SIGTERM from a non-interactive shell and
    then cannot be stopped; restoring the defaults in the child avoids that.
    """
    env = {**os.environ, "DAGSTER_HOME": os.environ.get("DAGSTER_HOME", str(home / "dagster"))}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dagster",
            "dev",
            "-w",
            str(REPO / "workspace.yaml"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
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


def serve_demo(home: Path) -> None:
    """Start the UIs, print their URLs, wait for Ctrl-C."""
    processes = [start_dagster_dev(home)]
    typer.echo("Starting the Dagster UI ...")
    wait_for_http("http://127.0.0.1:3000/server_info")
    typer.echo("Dagster UI:    http://127.0.0.1:3000  (lineage, runs, checks; Ctrl-C stops)")
    from lupus_cli.ui_commands import streamlit_command

    processes.append(subprocess.Popen(
        streamlit_command(port=8501, address="127.0.0.1"), cwd=REPO, start_new_session=True, preexec_fn=_default_signals,
    ))  # fmt: skip
    typer.echo("Lupus app:     http://127.0.0.1:8501")
    try:
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
