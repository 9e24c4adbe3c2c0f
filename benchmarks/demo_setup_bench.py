"""Fresh clone to both UIs serving: `make demo` timed end to end (issue 18).

Clones the committed HEAD of this repository into a temporary directory, points uv's and
pip's caches at an empty temporary directory (nothing downloaded before counts), runs
`make demo` there and timestamps every `==> [step]` line it prints, until both the Lupus app and
the Dagster UI answer (the lines `Lupus app:` and `Dagster UI:`); then stops it with Ctrl-C
(SIGINT to its process group) and removes the clone. Goal: under 3 minutes on the 2-core machine.
Baseline in the same run (``--baseline``): the same clone installed with pip (the install step of
before), timed up to the end of the install only.

Usage: .venv/bin/python benchmarks/demo_setup_bench.py [--keep] [--baseline]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def clone(target: Path) -> None:
    subprocess.run(["git", "clone", "--quiet", "--no-local", str(REPO), str(target)], check=True)


def fresh_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUPUS_", "DAGSTER_", "VIRTUAL_ENV"))}
    env |= {"UV_CACHE_DIR": str(tmp / "uv-cache"), "PIP_CACHE_DIR": str(tmp / "pip-cache")}
    return env


def time_make_demo(tmp: Path, timeout: float) -> dict[str, float]:
    checkout = tmp / "clone"
    clone(checkout)
    began = time.monotonic()
    marks: dict[str, float] = {}
    process = subprocess.Popen(
        ["make", "demo"], cwd=checkout, env=fresh_env(tmp), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True, preexec_fn=_default_signals,
    )  # fmt: skip
    try:
        for line in process.stdout:
            elapsed = time.monotonic() - began
            text = line.rstrip()
            if text.startswith("==> [") or text.startswith(("Lupus app:", "Dagster UI:", "Done in")):
                print(f"{elapsed:7.1f} s  {text}", flush=True)
                marks.setdefault(text.split("]")[0] + "]" if text.startswith("==>") else text.split(":")[0], elapsed)
            if "Lupus app" in marks and "Dagster UI" in marks:
                break
            if elapsed > timeout:
                raise TimeoutError(f"make demo did not serve both UIs within {timeout:.0f} s")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    if "Dagster UI" not in marks:
        raise RuntimeError(f"make demo exited with {process.returncode} before serving")
    marks["both UIs serving"] = max(marks["Lupus app"], marks["Dagster UI"])
    return marks


def _default_signals() -> None:
    # Started from a background job, `make demo` would inherit ignored SIGINT and never stop on Ctrl-C.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def time_pip_install(tmp: Path) -> float:
    checkout = tmp / "pip-clone"
    clone(checkout)
    env = fresh_env(tmp)
    began = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", str(checkout / ".venv")], check=True)
    pip = [str(checkout / ".venv" / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "-c", "constraints.txt", "-e", "."], cwd=checkout, env=env, check=True)
    return time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timeout", type=float, default=1200)
    parser.add_argument("--keep", action="store_true", help="keep the temporary clone")
    parser.add_argument("--baseline", action="store_true", help="also time a pip install of the same set")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lupus-demo-bench-"))
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    try:
        marks = time_make_demo(tmp, args.timeout)
        print(f"fresh clone to both UIs serving: {marks['both UIs serving']:.1f} s (goal < 180 s)")
        if args.baseline:
            shutil.rmtree(tmp / "uv-cache", ignore_errors=True)
            print(f"baseline: pip install of the runtime set, empty cache: {time_pip_install(tmp):.1f} s")
    finally:
        print(f"load average at end: {os.getloadavg()[0]:.1f}")
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
