"""Where file bytes live: one interface, a ``file://`` directory and an S3-compatible bucket.

A store speaks in keys (``uploads/<job_result_id>/<variable>/<name>``) relative to
its base URL (``JOBRUNTIME_STORAGE_URL``) and in the full URLs that messages carry.
A URL outside the store's base is never read or deleted: a request names only
objects of this store, so a publisher cannot point a worker at any other file.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from jobruntime.core.errors import StorageError

CHUNK_SIZE = 1024 * 1024  # bytes per read or write when streaming; a file never sits whole in memory


class StoreError(StorageError, RuntimeError):
    """A store operation failed; ``str()`` says what to do about it."""


class StoreUnavailable(StoreError):
    """The store could not be reached or refused the operation (a fault to retry, not a bad file)."""


class ObjectMissing(StoreError):
    """No object at that key (never uploaded, already deleted, or expired)."""


class NotInStore(StoreError):
    """A URL that does not belong to this store's base URL."""


class Store(ABC):
    """Keys to bytes; implementations stream in both directions."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def url_for(self, key: str) -> str:
        """The full URL of ``key``, as a message carries it."""
        return f"{self.url}/{key}"

    def key_for(self, url: str) -> str:
        """The key of a URL of this store; raises NotInStore for any other URL."""
        prefix = self.url + "/"
        if not url.startswith(prefix) or not url[len(prefix):]:
            raise NotInStore(f"{url} is not in this worker's storage ({self.url})")
        key = url[len(prefix):]
        if any(part in ("", ".", "..") for part in key.split("/")):
            raise NotInStore(f"{url} is not a plain key of this worker's storage")
        return key

    @abstractmethod
    def write(self, key: str, source: BinaryIO, *, content_type: str | None = None) -> None:
        """Store everything ``source.read()`` returns under ``key``, replacing what was there."""

    def write_file(self, key: str, path: Path, *, content_type: str | None = None) -> None:
        """Store the local file at ``path``; a store that can send parts of it side by side overrides this."""
        with open(path, "rb") as source:
            self.write(key, source, content_type=content_type)

    @abstractmethod
    def read(self, key: str) -> Iterator[bytes]:
        """The object's bytes in chunks; ObjectMissing when there is none."""

    @abstractmethod
    def size(self, key: str) -> int:
        """The object's size in bytes; ObjectMissing when there is none."""

    def read_into(self, key: str, target: BinaryIO) -> None:
        """Write the object's bytes to ``target`` (seekable, from its current position); ObjectMissing if none."""
        for chunk in self.read(key):
            target.write(chunk)

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; a missing one is not an error (deleting is idempotent)."""

    def delete_prefix(self, prefix: str) -> None:
        """Remove every object whose key starts with ``prefix`` (ending in ``/``)."""
        for key in self.keys(prefix):
            self.delete(key)

    @abstractmethod
    def keys(self, prefix: str) -> list[str]:
        """Keys starting with ``prefix``."""

    @abstractmethod
    def download_url(self, key: str) -> str:
        """Where a user can fetch the object: a presigned URL, or a local path."""

    def expire(self, prefix: str, max_age: float) -> int:
        """Remove objects under ``prefix`` older than ``max_age`` seconds; how many went.

        Nothing to do where the store expires them itself (an S3 lifecycle rule).
        """
        return 0

    @abstractmethod
    def initialize(self, expire_prefix: str, days: int) -> list[str]:
        """Create what the store needs and expire ``expire_prefix`` objects after ``days``; says what it did.

        Idempotent: a second call changes nothing and says so.
        """


class LocalStore(Store):
    """A directory: the embedded default (``file://$JOBRUNTIME_HOME/files``), needing no server."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.root = Path(unquote(urlsplit(url).path))

    def _path(self, key: str) -> Path:
        return self.root / key

    def write(self, key: str, source: BinaryIO, *, content_type: str | None = None) -> None:
        path = self._path(key)
        partial = path.with_name(path.name + ".partial")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(partial, "wb") as target:
                while chunk := source.read(CHUNK_SIZE):
                    target.write(chunk)
            os.replace(partial, path)  # readers never see half a file
        except OSError as exc:
            raise StoreUnavailable(f"Cannot write to the storage directory {self.root}: {exc.strerror}") from exc
        finally:
            partial.unlink(missing_ok=True)

    def read(self, key: str) -> Iterator[bytes]:
        try:
            stream = open(self._path(key), "rb")
        except FileNotFoundError:
            raise ObjectMissing(f"{self.url_for(key)} does not exist") from None
        except OSError as exc:
            raise StoreUnavailable(f"Cannot read {self.url_for(key)}: {exc.strerror}") from exc
        return _chunks(stream)

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            raise ObjectMissing(f"{self.url_for(key)} does not exist") from None
        except OSError as exc:
            raise StoreUnavailable(f"Cannot read {self.url_for(key)}: {exc.strerror}") from exc

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        for parent in path.parents:  # drop emptied directories up to the store's root
            if parent == self.root or self.root not in parent.parents:
                break
            try:
                parent.rmdir()
            except OSError:
                break

    def keys(self, prefix: str) -> list[str]:
        base = self._path(prefix)
        if not base.is_dir():
            return []
        return sorted(
            str(path.relative_to(self.root)) for path in base.rglob("*")
            if path.is_file() and not path.name.endswith(".partial")
        )

    def download_url(self, key: str) -> str:
        return str(self._path(key))

    def expire(self, prefix: str, max_age: float) -> int:
        oldest = time.time() - max_age
        expired = 0
        for key in self.keys(prefix):
            try:
                if self._path(key).stat().st_mtime < oldest:
                    self.delete(key)
                    expired += 1
            except FileNotFoundError:  # deleted meanwhile by the run's own worker
                continue
        return expired

    def initialize(self, expire_prefix: str, days: int) -> list[str]:
        existed = self.root.is_dir()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"Cannot create the storage directory {self.root}: {exc.strerror}") from exc
        return [
            f"Directory {self.root} {'exists' if existed else 'created'}",
            f"{expire_prefix} left behind by a lost worker is removed by the supervisor's sweep after {days} day(s)",
        ]


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    with stream:
        while chunk := stream.read(CHUNK_SIZE):
            yield chunk


def open_store(url: str) -> Store:
    """The store a ``JOBRUNTIME_STORAGE_URL`` names: ``file:///dir`` or ``s3://bucket[/prefix]``.

    Raises ValueError for any other URL. S3 endpoint and credentials come from the
    usual boto3 environment (``AWS_ENDPOINT_URL_S3``, ``AWS_ACCESS_KEY_ID``...).
    """
    parts = urlsplit(url)
    if parts.scheme == "file" and parts.path and not parts.netloc:
        return LocalStore(url)
    if parts.scheme == "s3" and parts.netloc:
        from jobruntime.storage.s3 import S3Store

        return S3Store(url)
    raise ValueError(f"expected file:///<directory> or s3://<bucket>[/<prefix>], got {url!r}")
