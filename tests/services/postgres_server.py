"""A throw-away PostgreSQL server from Debian's binaries (`tests/services/install.sh` installs them).

initdb refuses to run as root, so as root the server runs as the `postgres` system user.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid

from services.ports import free_port, wait_for_port


class PostgresServer:
    def __init__(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            raise RuntimeError(
                "PostgreSQL server binaries not found under /usr/lib/postgresql: run `make services` "
                "(tests/services/install.sh installs Debian's postgresql package)"
            )
        self.bin = os.path.dirname(bins[-1])
        self.base = tempfile.mkdtemp(prefix="lupus-pg-")
        self.data = os.path.join(self.base, "data")
        self.port = free_port()
        self.user = "lupus"

    def _run(self, *args: str) -> None:
        command = list(args)
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, text=True)

    def start(self) -> PostgresServer:
        os.chmod(self.base, 0o777)
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres")
        self._run(f"{self.bin}/initdb", "-D", self.data, "-A", "trust", "-U", self.user, "--no-locale", "-E", "UTF8")
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(f"{self.bin}/pg_ctl", "-D", self.data, "-o", options, "-l", f"{self.base}/server.log", "-w", "start")
        wait_for_port(self.port, what="PostgreSQL")
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A fresh empty database; returns its SQLAlchemy URL."""
        import psycopg2

        name = f"t_{uuid.uuid4().hex[:12]}"
        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, dbname="postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(f"{self.bin}/pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
