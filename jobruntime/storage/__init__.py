"""Storage of uploaded files: the stores (``file://`` and S3) and the files a run receives.

Run requests never carry file bytes: a publisher uploads each file first
(:func:`upload`) and the request holds a :class:`~jobruntime.bus.messages.FileRef`;
the worker fetches and verifies it (:func:`fetch`) and hands ``run()`` an
:class:`UploadedFile`. This package may import ``jobruntime.bus.messages`` and
``jobruntime.core.settings``, nothing that runs jobs.
"""

from jobruntime.storage.store import ObjectMissing, Store, StoreError, StoreUnavailable, open_store
from jobruntime.storage.uploaded import UploadedFile
from jobruntime.storage.uploads import FileTooLarge, UploadUnusable, discard, fetch, safe_name, upload

__all__ = [
    "FileTooLarge", "ObjectMissing", "Store", "StoreError", "StoreUnavailable", "UploadUnusable", "UploadedFile",
    "discard", "fetch", "open_store", "safe_name", "upload",
]
