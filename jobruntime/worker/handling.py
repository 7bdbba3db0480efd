"""What a message handler receives and returns: its context, middleware and outcome.

A worker builds one :class:`HandlerContext` per delivery from resources it created
once (runtime, bus); handlers stay plain functions ``handle(body, ctx) -> Outcome``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from jobruntime.run.decisions import PendingDecision
from jobruntime.run.runtime import Runtime
from jobruntime.store.prebuilt import DriverConnection
from jobruntime.worker.admission import Admission, Asking, read_admission
from jobruntime.worker.middleware import RunMiddleware

ReadAdmission = Callable[[DriverConnection, Asking, str], Admission]


@dataclass(frozen=True)
class Outcome:
    """How a delivery ended: a run status, or ``duplicate``, ``rejected``, ``refused``, ``lease_lost``, ``requeued``."""

    status: str
    job_result_id: uuid.UUID | None = None
    reason: str | None = None

    @classmethod
    def duplicate(cls, job_result_id: uuid.UUID) -> Outcome:
        return cls("duplicate", job_result_id, "already claimed or finished")

    @classmethod
    def rejected(cls, job_result_id: uuid.UUID | None, reason: str) -> Outcome:
        return cls("rejected", job_result_id, reason)

    @classmethod
    def refused(cls, job_result_id: uuid.UUID, reason: str) -> Outcome:
        return cls("refused", job_result_id, reason)


@dataclass
class HandlerContext:
    """Per-delivery context: shared resources plus what to do with this one message.

    ``acknowledge()`` acks the delivery while the handler goes on (a run claimed because
    it lasts); a handler that returns without it has its delivery acked once it returns,
    which keeps the consumer running, and one that raises has it handed back.
    """

    runtime: Runtime
    worker_id: str
    queue: str | None
    acknowledge: Callable[[], None]
    dead_letter: Callable[[str], None]
    publish: Callable[[str, dict[str, Any]], None]
    middleware: Sequence[RunMiddleware] = field(default_factory=tuple)
    delivery_count: int = 0  # earlier deliveries of this message (see ``consumer.Delivery``)
    read_admission: ReadAdmission = read_admission  # or a batch's, reading ahead for the deliveries behind
    defer_decision: Callable[[PendingDecision], None] | None = None  # a batch's: see ``jobruntime.run.decisions``

