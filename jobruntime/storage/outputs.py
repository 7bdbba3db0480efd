"""Files a job creates with ``create_file()``: stored under ``outputs/<job_result_id>/``, listed on the result.

The listing lives in the JobResult's ``data["files"]`` (name, size, sha256, content
type, the store URL and a download URL made when the file was stored). Output files
are kept whatever the run's status, dry runs included (a report is the point of many
of them), until their JobResult is deleted.
"""

from __future__ import annotations

import hashlib
import io
import mimetypes
import uuid
from collections.abc import Callable
from typing import Any

from jobruntime.storage.store import Store
from jobruntime.storage.uploads import safe_name

OUTPUTS = "outputs"


def output_prefix(job_result_id: uuid.UUID) -> str:
    """The prefix under which every output file of one run is stored."""
    return f"{OUTPUTS}/{job_result_id}/"


class OutputFiles:
    """One run's output files; ``data`` is the result data the listing is added to."""

    def __init__(self, store: Callable[[], Store], job_result_id: uuid.UUID, data: dict[str, Any]) -> None:
        self._store = store  # opened on the first file: most runs create none
        self.job_result_id = job_result_id
        self.data = data

    def create(self, filename: str, content: bytes) -> dict[str, Any]:
        """Store ``content`` as ``filename`` (a second file of the same name replaces the first); returns its entry.

        Raises StoreUnavailable when the store fails.
        """
        store = self._store()
        name = safe_name(filename)
        key = output_prefix(self.job_result_id) + name
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        store.write(key, io.BytesIO(content), content_type=content_type)
        entry = {"name": name, "size": len(content), "sha256": hashlib.sha256(content).hexdigest(),
                 "content_type": content_type, "url": store.url_for(key), "download_url": store.download_url(key)}
        listing = [item for item in self.data.get("files", []) if item["name"] != name]
        self.data["files"] = [*listing, entry]
        return entry


def listed_files(store: Store, data: dict[str, Any] | None) -> list[dict[str, Any]]:
    """A result's output files with download URLs made now (a presigned URL expires; a stored one may have)."""
    return [{**entry, "download_url": store.download_url(store.key_for(entry["url"]))}
            for entry in (data or {}).get("files", [])]


def delete_outputs(store: Store, job_result_id: uuid.UUID) -> None:
    """Remove every output file of one run (its JobResult is being deleted)."""
    store.delete_prefix(output_prefix(job_result_id))
