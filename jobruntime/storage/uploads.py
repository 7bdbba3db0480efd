"""Uploading a file for a run and fetching it back, verified, on the worker.

Keys are ``uploads/<job_result_id>/<variable>/<name>``: a request may only name
uploads of its own run, so a worker never reads or deletes anything else, and
the store's lifecycle rule (or the supervisor's sweep) finds what a lost worker
left behind by its prefix.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING

from jobruntime.storage.store import CHUNK_SIZE, NotInStore, ObjectMissing, Store, StoreError
from jobruntime.storage.uploaded import UploadedFile

if TYPE_CHECKING:  # the wire schemas load pydantic, which a local run without files never needs
    from jobruntime.bus.messages import FileRef

UPLOADS = "uploads"
UPLOAD_LIFETIME = 24 * 3600  # seconds an upload no worker deleted (its worker was lost) is kept
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_logger = logging.getLogger(__name__)


class FileTooLarge(StoreError):
    """A file over ``JOBRUNTIME_MAX_UPLOAD_BYTES``; nothing of it is kept."""


class UploadUnusable(StoreError):
    """An uploaded file a run cannot use (missing, truncated, tampered, too large); the message names its variable."""


def safe_name(name: str) -> str:
    """``name`` fit to be part of a key or a path: its last path component, no control characters, ≤ 255 chars."""
    base = _CONTROL.sub("", name.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return base[:255] if base not in ("", ".", "..") else "file"


def upload_prefix(job_result_id: uuid.UUID) -> str:
    """The prefix under which every upload of one run is stored."""
    return f"{UPLOADS}/{job_result_id}/"


class _Measured:
    """A reader that counts and hashes what passes through it and stops past ``limit`` bytes."""

    def __init__(self, source: IO[bytes], limit: int, label: str) -> None:
        self.source = source
        self.limit = limit
        self.label = label
        self.size = 0
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        chunk = self.source.read(size)
        self.size += len(chunk)
        if self.size > self.limit:
            raise FileTooLarge(f"{self.label} is larger than the {self.limit} bytes JOBRUNTIME_MAX_UPLOAD_BYTES allows")
        self.digest.update(chunk)
        return chunk


def upload(
    store: Store,
    source: str | os.PathLike[str] | IO[bytes],
    *,
    job_result_id: uuid.UUID,
    variable: str,
    max_bytes: int,
    name: str | None = None,
    content_type: str | None = None,
) -> FileRef:
    """Store ``source`` (a path or a binary file object) for ``variable`` of run ``job_result_id``.

    A path is measured and hashed first, then sent in parts side by side; a file object is
    hashed and counted as it streams. Raises FileTooLarge (before anything is sent, for a
    path), StoreUnavailable when the store fails, ValueError for a variable name no job could have.
    """
    from jobruntime.bus.messages import FileRef

    if not _VARIABLE.fullmatch(variable):
        raise ValueError(f"{variable!r} is not a variable name")
    path = Path(source) if isinstance(source, (str, os.PathLike)) else None
    given = path.name if path else os.path.basename(str(getattr(source, "name", "") or ""))
    name = safe_name(name or given or variable)
    content_type = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    key = f"{upload_prefix(job_result_id)}{variable}/{name}"
    if path is not None:
        with open(path, "rb") as stream:
            measured = _measure(stream, max_bytes, f"{variable}: {path}")
        store.write_file(key, path, content_type=content_type)
    else:
        measured = _Measured(source, max_bytes, f"{variable}: {name}")
        try:
            store.write(key, measured, content_type=content_type)
        except FileTooLarge:
            store.delete(key)
            raise
    return FileRef(url=store.url_for(key), name=name, size=measured.size, sha256=measured.digest.hexdigest(),
                   content_type=content_type)


def check_upload_size(label: str, size: int, limit: int) -> None:
    """Raise FileTooLarge when a file of ``size`` bytes is over ``limit``; ``label`` names it in the message."""
    if size > limit:
        raise FileTooLarge(f"{label} is {size} bytes, more than the {limit} bytes JOBRUNTIME_MAX_UPLOAD_BYTES allows")


def _measure(stream: IO[bytes], limit: int, label: str) -> _Measured:
    """Count and hash a whole stream, refusing it past ``limit`` bytes (a path's size is checked first)."""
    check_upload_size(label, os.fstat(stream.fileno()).st_size, limit)
    measured = _Measured(stream, limit, label)
    while measured.read(CHUNK_SIZE):
        pass
    return measured


def fetch(store: Store, ref: FileRef, variable: str, *, job_result_id: uuid.UUID, max_bytes: int) -> UploadedFile:
    """The uploaded file for ``variable``, checked against its reference before the job may start.

    Raises UploadUnusable (naming the variable) for a reference outside this run's
    uploads, a file over ``max_bytes``, a missing, truncated or tampered object;
    StoreUnavailable when the store fails (a fault worth retrying).
    """
    try:
        key = store.key_for(ref.url)
    except NotInStore as exc:
        raise UploadUnusable(f"{variable}: {exc}") from None
    if not key.startswith(upload_prefix(job_result_id)):
        raise UploadUnusable(f"{variable}: {ref.url} is not an upload of this run ({job_result_id})")
    try:
        check_upload_size(f"{variable}: the uploaded file", ref.size, max_bytes)
    except FileTooLarge as exc:
        raise UploadUnusable(str(exc)) from None
    received = UploadedFile.spooled(ref.name, content_type=ref.content_type)
    try:
        try:
            _check_size(variable, store.size(key), ref.size)
            store.read_into(key, received.file)
        except ObjectMissing:
            raise UploadUnusable(f"{variable}: the uploaded file is missing from storage") from None
        received.size = received.file.seek(0, os.SEEK_END)  # parts may have been written out of order
        _check_size(variable, received.size, ref.size)  # replaced since it was measured
        received.seek(0)
        digest = hashlib.sha256()
        while chunk := received.read(CHUNK_SIZE):
            digest.update(chunk)
        if digest.hexdigest() != ref.sha256:
            raise UploadUnusable(f"{variable}: the uploaded file's checksum does not match")
    except BaseException:
        received.close()
        raise
    received.sha256 = ref.sha256
    received.seek(0)
    return received


def _check_size(variable: str, actual: int, expected: int) -> None:
    if actual > expected:
        raise UploadUnusable(f"{variable}: the uploaded file is larger than the {expected} bytes its reference says")
    if actual < expected:
        raise UploadUnusable(f"{variable}: the uploaded file is truncated ({actual} of {expected} bytes)")


def discard(store: Store, files: Mapping[str, FileRef], job_result_id: uuid.UUID) -> None:
    """Delete a run's uploads once it has ended; a failure is logged, never raised (the lifecycle rule is the backstop).

    References outside the run's own uploads are left alone: a request cannot make a worker delete anything else.
    """
    for variable, ref in files.items():
        try:
            key = store.key_for(ref.url)
            if key.startswith(upload_prefix(job_result_id)):
                store.delete(key)
        except StoreError as exc:
            _logger.warning("Could not delete the upload of %s for run %s: %s", variable, job_result_id, exc)


def discard_request_uploads(store: Store, body: bytes) -> None:
    """Delete the uploads a run request names (one the broker dead-lettered); an unreadable body names none."""
    from jobruntime.bus.messages import MalformedMessage, RunRequest

    try:
        request = RunRequest.parse(body)
    except MalformedMessage:
        return
    discard(store, request.files, request.job_result_id)
