"""Leases: a worker owns a claimed run through a lease on its JobResult row.

The claim (``jobruntime.run.claim``) commits the row as ``running`` with a lease
before the message is acked, so a long job never holds a delivery open. The owner
renews the lease while the job runs, and learns there of a cancel request; a run
whose lease ran out is the reaper's (``worker.reaper``). A request that may not
start its run is recorded here too, on the run's own row (``refuse_run``).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, bindparam, select, update

from jobruntime.bus import outbox
from jobruntime.core.capabilities import Capabilities
from jobruntime.core.clock import utcnow
from jobruntime.models import JobResult
from jobruntime.run.claim import RunClaim
from jobruntime.run.claim_statements import EventBuilder
from jobruntime.store.prebuilt import DriverConnection, Prebuilt, on_connection

if TYPE_CHECKING:
    from jobruntime.models import Job as JobRecord
    from jobruntime.run.execution import JobExecution
    from jobruntime.worker.middleware import WorkerResources

logger = logging.getLogger(__name__)
_TABLE = JobResult.__table__

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
        self._current: tuple[RunClaim, Callable[[str], None]] | None = None
        self._cancelled: uuid.UUID | None = None
        self._thread: threading.Thread | None = None

    @contextmanager
    def holding(self, claim: RunClaim, on_cancel: Callable[[str], None]) -> Iterator[None]:
        """Keep ``claim`` leased while the body runs."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="lease-renewer", daemon=True)
            self._thread.start()
        self._current = (claim, on_cancel)
        try:
            yield
        finally:
            self._current = None

    def renew(self, claim: RunClaim) -> str | None:
        """Extend the lease; returns who asked to cancel the run, if anyone."""
        return renew_lease(self.engine, claim.job_result_id, claim.worker, self.lease_seconds)

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


def renew_lease(engine: Engine, job_result_id: uuid.UUID, worker: str, lease_seconds: float) -> str | None:
    """Extend the lease of a run that ``worker`` (a claim's ``worker`` column) holds; returns who asked to cancel
    the run, if anyone.

    A run is renewed by its holder rather than by its attempt: the holder is known before the claim commits, the
    attempt only after, and a supervisor renewing for a process stuck holding the GIL may have to act in between.
    A run the reaper re-queued has no holder, and a later attempt has its own.
    """
    now = utcnow()
    with engine.begin() as connection:
        row = connection.execute(
            update(_TABLE)
            .where(_TABLE.c.id == job_result_id, _TABLE.c.worker == worker, _TABLE.c.status == "running")
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
class KeepLease:
    """Middleware: renew the claimed run's lease while it runs; a cancel request stops the job."""

    renewer: LeaseRenewer

    @classmethod
    def for_worker(cls, worker: WorkerResources) -> KeepLease:
        return cls(LeaseRenewer(worker.runtime.autocommit_engine, worker.settings.lease_seconds))

    def around_run(self, execution: JobExecution, claim: RunClaim, record: JobRecord) -> AbstractContextManager[Any]:
        return self.renewer.holding(claim, execution.cancel)
