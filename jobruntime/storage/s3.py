"""The S3-compatible store (AWS S3, SeaweedFS, MinIO...), through boto3.

Endpoint, region and credentials come from boto3's own configuration
(``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``, ``AWS_PROFILE``), as for any
boto3 user. boto3 is imported only when an S3 store is opened: the embedded
default never pays for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from jobruntime.storage.store import CHUNK_SIZE, ObjectMissing, Store, StoreUnavailable

_PART = 8 * 1024 * 1024
# A stream is sent in 8 MiB parts, two at a time, holding at most two parts in memory (s3transfer
# reads up to ten ahead by default, and boto3's TransferConfig does not name that setting).
_STREAM = TransferConfig(multipart_threshold=_PART, multipart_chunksize=_PART, max_concurrency=2)
_STREAM.max_in_memory_upload_chunks = 2
# A local file's parts, and a download's ranges, are read as they are sent or written, two side by side:
# more threads were no faster on a 2-core machine, and each holds buffers of its own.
# Downloaded pieces (256 KiB) wait for the disk in a queue of at most 8 (s3transfer's default is 1,000).
_PARALLEL = TransferConfig(multipart_threshold=_PART, multipart_chunksize=_PART, max_concurrency=2, max_io_queue=8)
_CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"})
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}
DOWNLOAD_URL_SECONDS = 7 * 24 * 3600  # the longest a SigV4 presigned URL may live


class S3Store(Store):
    """``s3://bucket/prefix``: keys live under ``prefix/`` in ``bucket``."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        parts = urlsplit(self.url)
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self.client = boto3.session.Session().client("s3", config=_CLIENT_CONFIG)

    def _object_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _fault(self, exc: Exception, doing: str) -> StoreUnavailable:
        """A boto error as one line a user can act on."""
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            if error.get("Code") == "NoSuchBucket":
                return StoreUnavailable(
                    f"Storage bucket {self.bucket!r} does not exist; run `jobruntime infra storage-init`"
                )
            return StoreUnavailable(f"Storage refused to {doing}: {error.get('Code')}: {error.get('Message')}")
        return StoreUnavailable(f"Storage at {self.client.meta.endpoint_url} cannot {doing}: {exc}")

    def write(self, key: str, source: BinaryIO, *, content_type: str | None = None) -> None:
        extra = {"ContentType": content_type} if content_type else None
        try:
            self.client.upload_fileobj(source, self.bucket, self._object_key(key), ExtraArgs=extra, Config=_STREAM)
        except (BotoCoreError, ClientError) as exc:
            raise self._fault(exc, f"store {self.url_for(key)}") from exc

    def write_file(self, key: str, path: Path, *, content_type: str | None = None) -> None:
        extra = {"ContentType": content_type} if content_type else None
        try:
            self.client.upload_file(str(path), self.bucket, self._object_key(key), ExtraArgs=extra, Config=_PARALLEL)
        except (BotoCoreError, ClientError) as exc:
            raise self._fault(exc, f"store {self.url_for(key)}") from exc

    @contextmanager
    def _reading(self, key: str) -> Iterator[None]:
        """Boto errors of reading ``key`` as ObjectMissing (no such key) or StoreUnavailable."""
        try:
            yield
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING_CODES:
                raise ObjectMissing(f"{self.url_for(key)} does not exist") from None
            raise self._fault(exc, f"read {self.url_for(key)}") from exc
        except (BotoCoreError, OSError) as exc:
            raise self._fault(exc, f"read {self.url_for(key)}") from exc

    def size(self, key: str) -> int:
        with self._reading(key):
            return self.client.head_object(Bucket=self.bucket, Key=self._object_key(key))["ContentLength"]

    def read_into(self, key: str, target: BinaryIO) -> None:
        with self._reading(key):
            self.client.download_fileobj(self.bucket, self._object_key(key), target, Config=_PARALLEL)

    def read(self, key: str) -> Iterator[bytes]:
        with self._reading(key):
            body = self.client.get_object(Bucket=self.bucket, Key=self._object_key(key))["Body"]
        return self._stream(body, key)

    def _stream(self, body: Any, key: str) -> Iterator[bytes]:
        with self._reading(key), body:
            yield from body.iter_chunks(CHUNK_SIZE)

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._object_key(key))
        except (BotoCoreError, ClientError) as exc:
            raise self._fault(exc, f"delete {self.url_for(key)}") from exc

    def keys(self, prefix: str) -> list[str]:
        found = []
        start = len(self.prefix) + 1 if self.prefix else 0
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._object_key(prefix)
            ):
                found.extend(item["Key"][start:] for item in page.get("Contents", []))
        except (BotoCoreError, ClientError) as exc:
            raise self._fault(exc, f"list {self.url_for(prefix)}") from exc
        return found

    def download_url(self, key: str) -> str:
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._object_key(key)},
            ExpiresIn=DOWNLOAD_URL_SECONDS,
        )

    def initialize(self, expire_prefix: str, days: int) -> list[str]:
        done = []
        try:
            try:
                self.client.head_bucket(Bucket=self.bucket)
                done.append(f"Bucket {self.bucket} exists")
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in {"404", "NoSuchBucket", "NotFound"}:
                    raise
                self.client.create_bucket(Bucket=self.bucket)
                done.append(f"Bucket {self.bucket} created")
            prefix = self._object_key(expire_prefix)
            rule = {"ID": "jobruntime-expire-uploads", "Filter": {"Prefix": prefix}, "Status": "Enabled",
                    "Expiration": {"Days": days}}
            if rule in self._lifecycle_rules():
                done.append(f"Lifecycle rule expiring {prefix} after {days} day(s) is in place")
            else:
                others = [item for item in self._lifecycle_rules() if item.get("ID") != rule["ID"]]
                self.client.put_bucket_lifecycle_configuration(
                    Bucket=self.bucket, LifecycleConfiguration={"Rules": [*others, rule]}
                )
                done.append(f"Lifecycle rule set: {prefix} expires after {days} day(s)")
        except (BotoCoreError, ClientError) as exc:
            raise self._fault(exc, f"set up bucket {self.bucket}") from exc
        return done

    def _lifecycle_rules(self) -> list[dict[str, Any]]:
        try:
            return self.client.get_bucket_lifecycle_configuration(Bucket=self.bucket).get("Rules", [])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchLifecycleConfiguration", "404"}:
                return []
            raise
