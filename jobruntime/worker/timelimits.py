"""The hard time limit: a worker process tells its supervisor when its run must be over.

Each child process owns a :class:`RunSlot` in shared memory. While a run is in
hand the slot holds its JobResult id, its holder (the claim's ``worker``) and deadline; the supervisor kills a
child whose deadline has passed (the job cannot be trusted to stop by itself) and
records the run as ``errored`` with "hard time limit (N s) exceeded". Until then
it also renews the run's lease: a job stuck in C code that holds the GIL stops its
own process's renewer, but it is not lost, and must not be run a second time.
(The soft limit is raised inside the job: see :mod:`jobruntime.run.interrupts`.)
"""

from __future__ import annotations

import multiprocessing
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jobruntime.models import Job as JobRecord
    from jobruntime.run.claim import RunClaim
    from jobruntime.run.execution import JobExecution
    from jobruntime.worker.middleware import WorkerResources


def hard_limit_message(seconds: float) -> str:
    return f"hard time limit ({seconds:g} s) exceeded"


class RunSlot:
    """Shared memory between one worker process and its supervisor: the run in hand, its holder and deadline."""

    HOLDER_BYTES = 256  # a claim's worker column: host:pid:thread

    def __init__(self) -> None:
        self._numbers = multiprocessing.Array("d", 2)  # deadline (epoch s), limit (s)
        self._job_result = multiprocessing.Array("c", 36)
        self._holder = multiprocessing.Array("c", self.HOLDER_BYTES)

    def start(self, job_result_id: uuid.UUID, limit: float, holder: str) -> None:
        """A run is in hand from now on, claimed or about to be by ``holder``."""
        with self._numbers.get_lock():
            self._job_result.value = str(job_result_id).encode()
            self._holder.value = holder.encode()[:self.HOLDER_BYTES]
            self._numbers[0] = time.time() + limit
            self._numbers[1] = limit

    def clear(self) -> None:
        with self._numbers.get_lock():
            self._job_result.value = b""
            self._numbers[0] = 0.0

    def running(self) -> tuple[uuid.UUID, str] | None:
        """The run in hand and its holder, or None."""
        with self._numbers.get_lock():
            job_result, holder = self._job_result.value.decode(), self._holder.value.decode()
        return (uuid.UUID(job_result), holder) if job_result else None

    def overdue(self, now: float | None = None) -> tuple[uuid.UUID, float] | None:
        """The run and its limit if its deadline has passed, else None."""
        with self._numbers.get_lock():
            deadline, limit = self._numbers[0], self._numbers[1]
            job_result = self._job_result.value.decode()
        if not job_result or not deadline or (now or time.time()) < deadline:
            return None
        return uuid.UUID(job_result), limit


@dataclass(frozen=True)
class HardLimit:
    """Middleware: publish each run's deadline in the process's slot while it runs."""

    slot: RunSlot
    default_limit: float

    @classmethod
    def for_worker(cls, worker: WorkerResources) -> HardLimit | None:
        """None for a worker with no supervisor to watch its slot (one running inside another command)."""
        return None if worker.slot is None else cls(worker.slot, worker.settings.time_limit)

    def around_run(self, execution: JobExecution, claim: RunClaim, record: JobRecord) -> AbstractContextManager[Any]:
        return self._running(claim, record.time_limit or self.default_limit)

    @contextmanager
    def _running(self, claim: RunClaim, limit: float) -> Iterator[None]:
        self.slot.start(claim.job_result_id, limit, claim.worker)
        try:
            yield
        finally:
            self.slot.clear()
