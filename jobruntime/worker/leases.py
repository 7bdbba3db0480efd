"""Leases: a worker owns a claimed run through a lease on its JobResult row.

The claim (``jobruntime.run.claim``) commits the row as ``running`` with a lease
before the message is acked, so a long job never holds a delivery open. The owner
renews the lease while the job runs; the reaper re-queues runs whose lease ran out
(their worker died) or, when that is not possible, ends them ``errored`` with the reason.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, bindparam, select, update

from jobruntime.store.capabilities import Capabilities
from jobruntime.core.clock import utcnow
from jobruntime.bus import outbox
from jobruntime.models import JobResult
from jobruntime.run.claim import RunClaim
from jobruntime.run.claim_statements import Claim, EventBuilder, claim_run
from jobruntime.store.prebuilt import DriverConnection, Prebuilt, on_connection

if TYPE_CHECKING:
    from jobruntime.models import Job as JobRecord
    from jobruntime.run.execution import JobExecution
    from jobruntime.worker.middleware import WorkerResources

logger = logging.getLogger(__name__)
_TABLE = JobResult.__table__

WORKER_LOST = "worker lost"
DATABASE_LOST = "database connection lost"


def refuse_run(
    engine: Engine, values: dict[str, Any], reason: str, *, events: Sequence[EventBuilder] = ()
) -> list[dict[str, Any]] | None:
    """Record a run that may not start (bad credentials, wrong queue...) as ``errored`` with the reason.

    A pending run of the same job and user (its publisher's row) is refused in place; a row
    of another user is never changed (``values`` without a ``user_id`` changes none). Returns
    the committed outbox rows, or None when the id belongs to another run (a duplicate).
    """
    now = utcnow()
    insert = Capabilities.of(engine).insert(_TABLE).values(
        **values, status="errored", reason=reason, created=now, completed=now
    )
    refused = [column for column in (*values, "status", "reason", "completed") if column != "id"]
    statement = insert.on_conflict_do_update(  # a pending row (its publisher's) is refused in place
        index_elements=[_TABLE.c.id],
        set_={column: insert.excluded[column] for column in refused},
        where=(_TABLE.c.status == "pending") & (_TABLE.c.name == insert.excluded.name)
        & (_TABLE.c.user_id == insert.excluded.user_id),
    ).returning(*_TABLE.c)
    with engine.begin() as connection:
        row = connection.execute(statement).first()
        if row is None:
            return None
        return outbox.add_events(on_connection(connection), [build(row._asdict()) for build in events])


_RUN_NAME = Prebuilt(select(_TABLE.c.name).where(_TABLE.c.id == bindparam("id")))


def run_name(db: DriverConnection, job_result_id: uuid.UUID) -> str | None:
    """The class path of the job a JobResult belongs to, or None when there is no such row."""
    row = _RUN_NAME.first(db, {"id": job_result_id})
    return None if row is None else row["name"]


def rerun_request(stored: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The stored request of a run the reaper put back to ``pending``, or of a run a schedule recorded
    (``stored``: its row, or None), else None. The row, written by a trusted process, vouches for the request."""
    if stored is None or stored["status"] != "pending" or stored["request"] is None:
        return None
    if stored["attempt"] < 1 and stored.get("schedule_id") is None:
        return None
    return stored["request"]


class LeaseRenewer:
    """Renews the lease of the run in hand from one background thread per worker process.

    It also notices cancellation requests (``cancel_requested_by``) and passes them
    to the run's ``on_cancel`` once.
    """

    def __init__(self, engine: Engine, lease_seconds: float) -> None:
        self.engine = engine
        self.lease_seconds = lease_seconds
        self._current: tuple[Claim | RunClaim, Callable[[str], None]] | None = None
        self._cancelled: uuid.UUID | None = None
        self._thread: threading.Thread | None = None

    @contextmanager
    def holding(self, claim: Claim | RunClaim, on_cancel: Callable[[str], None]) -> Iterator[None]:
        """Keep ``claim`` leased while the body runs."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="lease-renewer", daemon=True)
            self._thread.start()
        self._current = (claim, on_cancel)
        try:
            yield
        finally:
            self._current = None

    def renew(self, claim: Claim | RunClaim) -> str | None:
        """Extend the lease; returns who asked to cancel the run, if anyone."""
        return renew_lease(self.engine, claim.job_result_id, claim.attempt, self.lease_seconds)

    def _loop(self) -> None:
        interval = max(self.lease_seconds / 3, 0.05)
        while True:
            time.sleep(interval)
            current = self._current
            if current is None:
                continue
            claim, on_cancel = current
            if not claim.attempt:  # not claimed yet: no lease to renew
                continue
            try:
                requested_by = self.renew(claim)
            except Exception:  # noqa: BLE001 - a failed renewal is retried; the lease has slack
                logger.warning("Could not renew the lease of %s", claim.job_result_id, exc_info=True)
                continue
            if requested_by and self._cancelled != claim.job_result_id:
                self._cancelled = claim.job_result_id
                on_cancel(requested_by)


def renew_lease(engine: Engine, job_result_id: uuid.UUID, attempt: int, lease_seconds: float) -> str | None:
    """Extend a running attempt's lease; returns who asked to cancel the run, if anyone."""
    now = utcnow()
    with engine.begin() as connection:
        row = connection.execute(
            update(_TABLE)
            .where(_TABLE.c.id == job_result_id, _TABLE.c.attempt == attempt, _TABLE.c.status == "running")
            .values(lease_expires=now + timedelta(seconds=lease_seconds), heartbeat=now)
            .returning(_TABLE.c.cancel_requested_by)
        ).first()
    return row.cancel_requested_by if row is not None else None


def request_cancel(
    engine: Engine, job_result_id: uuid.UUID, username: str, *, events: Sequence[EventBuilder] = ()
) -> str | None:
    """Ask for a run to stop; returns its status before the request, or None if no such run.

    A pending run ends ``errored`` at once, with the outbox rows ``events`` build from it
    (a sweep publishes them); a running one is stopped by its worker at the next lease renewal.
    """
    with engine.begin() as connection:
        status = connection.execute(select(_TABLE.c.status).where(_TABLE.c.id == job_result_id)).scalar()
        if status == "pending":
            _end_pending(connection, job_result_id, f"cancelled by {username}", events, cancel_requested_by=username)
        elif status == "running":
            connection.execute(
                update(_TABLE).where(_TABLE.c.id == job_result_id).values(cancel_requested_by=username)
            )
    return status


def _end_pending(
    connection: Connection, job_result_id: uuid.UUID, reason: str, events: Sequence[EventBuilder], **extra: Any
) -> list[dict[str, Any]] | None:
    row = connection.execute(
        update(_TABLE).where(_TABLE.c.id == job_result_id, _TABLE.c.status == "pending")
        .values(status="errored", reason=reason, completed=utcnow(), **extra)
        .returning(*_TABLE.c)
    ).first()
    if row is None:
        return None
    return outbox.add_events(on_connection(connection), [build(row._asdict()) for build in events])


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


@dataclass(frozen=True)
class KeepLease:
    """Middleware: renew the claimed run's lease while it runs; a cancel request stops the job."""

    renewer: LeaseRenewer

    @classmethod
    def for_worker(cls, worker: WorkerResources) -> KeepLease:
        return cls(LeaseRenewer(worker.runtime.autocommit_engine, worker.settings.lease_seconds))

    def around_run(self, execution: JobExecution, claim: RunClaim, record: JobRecord) -> AbstractContextManager[Any]:
        return self.renewer.holding(claim, execution.cancel)


__all__ = [  # claim_run and Claim live with the claim (jobruntime.run); imported from here too
    "DATABASE_LOST", "WORKER_LOST", "Claim", "EventBuilder", "KeepLease", "LeaseRenewer", "Reaped", "claim_run",
    "reap_expired", "release_run", "renew_lease", "refuse_run", "request_cancel", "rerun_request", "run_name",
    "utcnow",
]
