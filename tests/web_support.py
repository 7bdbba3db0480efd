"""Helpers for tests that talk to a real `jobruntime serve`."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.bus_support import JOBRUNTIME
from tests.storage_support import free_port


@contextmanager
def serving(env: dict[str, str]) -> Iterator[str]:
    """A `jobruntime serve` on a free port of 127.0.0.1 with ``env``; yields its base URL once it answers."""
    port = free_port()
    output = tempfile.TemporaryFile()
    server = subprocess.Popen([JOBRUNTIME, "serve", "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
                              env={**os.environ, **env}, stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/api/", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    output.seek(0)
                    raise RuntimeError(f"jobruntime serve did not start: {output.read().decode()}") from None
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)
        output.close()
