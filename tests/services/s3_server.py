"""An S3-compatible server on 127.0.0.1: moto in server mode (the one installable here)."""

from __future__ import annotations

import subprocess
import sys
import uuid

from services.ports import free_port, wait_for_port

ACCESS_KEY = "lupus-test"
SECRET_KEY = "lupus-test-secret"


class S3Server:
    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> S3Server:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, what="moto S3 server")
        return self

    def storage_options(self) -> dict[str, object]:
        return {
            "endpoint_url": self.endpoint,
            "key": ACCESS_KEY,
            "secret": SECRET_KEY,
            "client_kwargs": {"region_name": "us-east-1"},
        }

    def create_bucket(self) -> str:
        import boto3

        name = f"lupus-{uuid.uuid4().hex[:10]}"
        client = boto3.client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY, region_name="us-east-1",
        )  # fmt: skip
        client.create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
