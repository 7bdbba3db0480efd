"""The reaper: a run whose worker is gone is re-queued, or ended ``errored`` saying why.

A worker that dies leaves its claimed run ``running`` until the lease runs out;
every ``jobruntime worker`` supervisor then reaps it (``reap_expired``). A worker
that loses its database connection before the run's outcome commits hands the
run back at once the same way (``release_run``). Either way a run is re-run only
from its stored request, before its changes committed, with attempts left and no
cancel request: its changes are applied once at most.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from jobruntime.bus import outbox
from jobruntime.core.capabilities import Capabilities
from jobruntime.core.clock import utcnow
from jobruntime.models import JobResult
from jobruntime.run.claim_statements import EventBuilder
from jobruntime.store.prebuilt import on_connection

_TABLE = JobResult.__table__

WORKER_LOST = "worker lost"
DATABASE_LOST = "database connection lost"


@dataclass(frozen=True)
class Reaped:
    """A run the reaper dealt with, and the outbox rows (re-queue or result event) it committed for it."""

    job_result_id: uuid.UUID
    requeued: bool
    reason: str | None
    events: list[dict[str, Any]]


def reap_expired(
    engine: Engine,
    *,
    max_attempts: int,
    result_event: EventBuilder,
    default_queue: str,
    now: datetime | None = None,
) -> list[Reaped]:
    """Re-queue (through the outbox) or end every run whose lease has expired.

    ``result_event(row_values)`` builds the outbox row announcing a final status.
    """
    now = now or utcnow()
    query = select(_TABLE).where(_TABLE.c.status == "running", _TABLE.c.lease_expires < now)
    query = Capabilities.of(engine).skipping_locked(query)
    with engine.begin() as connection:
        return [
            _hand_back(connection, row, WORKER_LOST, max_attempts=max_attempts, result_event=result_event,
                       default_queue=default_queue, now=now)
            for row in connection.execute(query).all()
        ]


def release_run(
    engine: Engine,
    job_result_id: uuid.UUID,
    attempt: int,
    *,
    max_attempts: int,
    result_event: EventBuilder,
    default_queue: str,
) -> Reaped | None:
    """Hand back a claimed run whose worker lost its database connection before the outcome committed.

    As the reaper does for a dead worker, at once rather than when the lease runs out:
    re-queued while attempts remain and its request is stored, else ``errored`` saying
    why. None when the row is no longer this attempt's running one (its outcome did
    commit before the connection went, or it was taken over).
    """
    query = select(_TABLE).where(_TABLE.c.id == job_result_id, _TABLE.c.attempt == attempt,
                                 _TABLE.c.status == "running")
    with engine.begin() as connection:
        row = connection.execute(query.with_for_update()).first()
        if row is None:
            return None
        return _hand_back(connection, row, DATABASE_LOST, max_attempts=max_attempts, result_event=result_event,
                          default_queue=default_queue, now=utcnow())


def _hand_back(
    connection: Connection, row: Any, lost: str, *, max_attempts: int, result_event: EventBuilder,
    default_queue: str, now: datetime,
) -> Reaped:
    """Re-queue a run its attempt could not finish (``lost``: what was lost), or end it ``errored`` if it cannot be."""
    rerunnable = row.request is not None and row.verdict is None and row.cancel_requested_by is None
    if rerunnable and row.attempt < max_attempts:
        requeued = {"status": "pending", "worker": None, "lease_expires": None}
        connection.execute(update(_TABLE).where(_TABLE.c.id == row.id).values(**requeued))
        events = outbox.add_events(on_connection(connection), [
            result_event({**row._asdict(), **requeued}),  # a status change like any other
            outbox.event_row(outbox.RUN_EXCHANGE, row.task_queue or default_queue, row.request),
        ])
        return Reaped(row.id, True, None, events)
    if row.cancel_requested_by is not None:  # its worker died before it could stop it
        reason = f"cancelled by {row.cancel_requested_by}"
    elif row.verdict is not None:  # its changes are committed: running it again would repeat them
        reason = f"{lost} during post_run(); run() and the tests had ended {row.verdict}"
    elif row.request is None:
        reason = f"{lost}: its input was not stored (sensitive variables), so it cannot be re-run"
    else:
        reason = f"{lost} after {row.attempt} attempts"
    values = {"status": "errored", "reason": reason, "completed": now, "lease_expires": None}
    connection.execute(update(_TABLE).where(_TABLE.c.id == row.id).values(**values))
    events = outbox.add_events(on_connection(connection), [result_event({**row._asdict(), **values})])
    return Reaped(row.id, False, reason, events)
