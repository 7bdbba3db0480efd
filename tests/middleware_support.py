"""Middleware a test names in JOBRUNTIME_MIDDLEWARE; the worker imports it by that name, so it lives here."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass

from jobruntime.worker.middleware import WorkerResources

SEEN: list[tuple[str, str, str]] = []
_SEEN_LOCK = threading.Lock()


@dataclass(frozen=True)
class Recording:
    """Notes when it is entered and left around each run."""

    name: str

    @classmethod
    def for_worker(cls, worker: WorkerResources) -> Recording:
        return cls(cls.__name__)

    @contextmanager
    def around_run(self, execution, claim, record):
        with _SEEN_LOCK:
            SEEN.append(("enter", self.name, record.class_path))
        try:
            yield
        finally:
            with _SEEN_LOCK:
                SEEN.append(("leave", self.name, record.class_path))


class Second(Recording):
    pass


class Declining(Recording):
    @classmethod
    def for_worker(cls, worker: WorkerResources) -> None:
        return None
