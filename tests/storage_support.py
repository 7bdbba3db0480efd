"""A real SeaweedFS S3 server for the storage tests, on free ports of its own.

Other test sessions may run their own SeaweedFS at the same time, so every port
``weed mini`` would listen on is chosen free, never its defaults.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3

WEED = str(Path(sys.executable).parent / "weed")
_PORTS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
          "s3.port", "s3.port.grpc", "s3.port.iceberg", "s3.port.lance", "admin.port", "admin.port.grpc",
          "webdav.port", "metricsPort", "debug.port")
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "jobruntime-test", "AWS_SECRET_ACCESS_KEY": "jobruntime-test-secret",
               "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class SeaweedFS:
    endpoint: str
    process: subprocess.Popen

    @property
    def env(self) -> dict[str, str]:
        """The boto3 environment a client of this server needs."""
        return {"AWS_ENDPOINT_URL_S3": self.endpoint, **CREDENTIALS}

    def client(self):
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"], region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
        )


@contextmanager
def running_seaweedfs(directory: Path, timeout: float = 60) -> Iterator[SeaweedFS]:
    """``weed mini`` on 127.0.0.1 with its data in ``directory``; stopped (and waited for) afterwards."""
    ports = {name: free_port() for name in _PORTS}
    output = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [WEED, "mini", f"-dir={directory}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-admin.ui=false",
         "-webdav=false", *(f"-{name}={port}" for name, port in ports.items())],
        stdout=output, stderr=subprocess.STDOUT,
    )
    server = SeaweedFS(f"http://127.0.0.1:{ports['s3.port']}", process)
    try:
        client = server.client()
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.list_buckets()
                break
            except Exception:  # noqa: BLE001 - not listening yet
                if process.poll() is not None or time.monotonic() > deadline:
                    output.seek(0)
                    raise RuntimeError(f"weed mini did not start: {output.read()[-2000:].decode(errors='replace')}")
                time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        output.close()


def fresh_bucket(server: SeaweedFS, monkeypatch, name: str) -> str:
    """``s3://<name>-<random>/<name>`` on ``server``, initialized, with this process's boto3 environment set."""
    from jobruntime.storage import open_store

    for key, value in server.env.items():
        monkeypatch.setenv(key, value)
    url = f"s3://{name}-{uuid.uuid4().hex[:12]}/{name}"
    open_store(url).initialize("uploads/", 1)
    return url
