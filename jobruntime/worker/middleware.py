"""Middleware: the pieces that wrap every run a worker makes (lease renewal, log flushing, the hard time limit).

Each piece is a class with two named hooks: ``for_worker`` builds it once per
worker process from that process's resources (or declines, returning None, when
it does not apply there), and ``around_run`` wraps one run in a context manager.
Which pieces a worker uses is the ``JOBRUNTIME_MIDDLEWARE`` setting, a list of
dotted class names; the worker enters them in that order around each run and
leaves them in reverse.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from jobruntime.core.settings import InvalidSetting, Settings
from jobruntime.run.log import LogFlusher
from jobruntime.run.runtime import Runtime

if TYPE_CHECKING:
    from jobruntime.models import Job as JobRecord
    from jobruntime.run.claim import RunClaim
    from jobruntime.run.execution import JobExecution
    from jobruntime.worker.timelimits import RunSlot


@dataclass(frozen=True)
class WorkerResources:
    """What a worker process holds for its whole life, for middleware to build on."""

    settings: Settings
    runtime: Runtime
    slot: RunSlot | None = None  # shared with a supervisor; None for a worker running inside another command


@runtime_checkable
class RunMiddleware(Protocol):
    """A piece wrapping every run of a worker process."""

    @classmethod
    def for_worker(cls, worker: WorkerResources) -> RunMiddleware | None:
        """The piece for one worker process, or None when it does not apply there."""

    def around_run(self, execution: JobExecution, claim: RunClaim, record: JobRecord) -> AbstractContextManager[Any]:
        """Entered before the run executes and left once it ends, however it ends."""


@dataclass(frozen=True)
class FlushLog:
    """Writes the run's buffered log on time while the job runs, even when it logs nothing more for a while."""

    flusher: LogFlusher

    @classmethod
    def for_worker(cls, worker: WorkerResources) -> FlushLog:
        return cls(LogFlusher(worker.settings.log_flush_interval))

    def around_run(self, execution: JobExecution, claim: RunClaim, record: JobRecord) -> AbstractContextManager[Any]:
        return self.flusher.holding(execution.log)


def middleware_classes(names: Sequence[str]) -> list[type[RunMiddleware]]:
    """Import the classes ``names`` point to; raises InvalidSetting naming the first that is not a middleware.

    Called before a worker starts consuming, so a typo stops the command instead of every run.
    """
    classes = []
    for name in names:
        module_name, _, class_name = name.rpartition(".")
        try:
            found = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            raise InvalidSetting("middleware", f"cannot import {name}: {exc}") from None
        if not (isinstance(found, type) and callable(getattr(found, "for_worker", None))
                and callable(getattr(found, "around_run", None))):
            raise InvalidSetting("middleware", f"{name} is not a middleware class (it needs for_worker and around_run)")
        classes.append(found)
    return classes


def build_middleware(classes: Sequence[type[RunMiddleware]], worker: WorkerResources) -> list[RunMiddleware]:
    """The pieces of one worker process, in the configured order, without those that declined."""
    built = (cls.for_worker(worker) for cls in classes)
    return [piece for piece in built if piece is not None]
