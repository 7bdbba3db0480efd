"""Claim, then ack: a worker owns a run through a lease on its JobResult row.

The claim commits the row as ``running`` with a lease before the message is
acked, so a long job never holds a delivery open. A worker makes it once the run
lasts (``RunClaim``): a short run needs no claim of its own, its one transaction
writes the row claimed and decided. The owner renews the lease while the job
runs; the reaper re-queues runs whose lease ran out (their worker died) or, when
that is not possible, ends them ``errored`` with the reason.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, bindparam, insert, select, update

from jobruntime.store.capabilities import Capabilities
from jobruntime.core.clock import utcnow
from jobruntime.bus import outbox
from jobruntime.models import JobResult
from jobruntime.store.prebuilt import DriverConnection, Prebuilt, on_connection, transaction
from jobruntime.run.result import LeaseLost

if TYPE_CHECKING:
    from jobruntime.models import Job as JobRecord
    from jobruntime.run.execution import JobExecution
    from jobruntime.worker.middleware import WorkerResources

logger = logging.getLogger(__name__)
_TABLE = JobResult.__table__

WORKER_LOST = "worker lost"
DATABASE_LOST = "database connection lost"


EventBuilder = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Claim:
    """A run this worker now owns: the row id, which attempt this is, and the row as claimed."""

    job_result_id: uuid.UUID
    attempt: int
    requeued: bool
    row: dict[str, Any]
    events: list[dict[str, Any]]


_CLAIM_COLUMNS = ("id", "name", "job_model_id", "user_id", "task_queue", "request", "job_kwargs")
_LEASE_COLUMNS = ("status", "worker", "lease_expires", "heartbeat", "started")
_NEW_ROW_COLUMNS = ("created",)  # a new row's only: taking over a pending row keeps its creation time


def _takes_over(statement: Any) -> Any:
    """Which existing row a claim may take: a pending run of the same job and the same user (its publisher's,
    or the reaper's), so a request can never take over another user's run whatever checks ran before it."""
    return ((_TABLE.c.status == "pending") & (_TABLE.c.name == statement.excluded.name)
            & _TABLE.c.user_id.is_not_distinct_from(statement.excluded.user_id))


@functools.cache
def _claim_statement(capabilities: Capabilities) -> Prebuilt:
    """INSERT ... ON CONFLICT taking over a pending row (ON CONFLICT is spelled per dialect).

    A pending row was written by a publisher or by the reaper; the worker's values,
    taken from the request it authenticated, replace its description of the run. Only a
    request for the same job may take it over.
    """
    statement = capabilities.insert(_TABLE).values(
        {**{column: bindparam(column) for column in _CLAIM_COLUMNS + _LEASE_COLUMNS + _NEW_ROW_COLUMNS}, "attempt": 1}
    )
    taken_over = [column for column in _CLAIM_COLUMNS + _LEASE_COLUMNS if column != "id"]
    return Prebuilt(statement.on_conflict_do_update(
        index_elements=[_TABLE.c.id],
        set_={**{column: statement.excluded[column] for column in taken_over}, "attempt": _TABLE.c.attempt + 1},
        where=_takes_over(statement),
    ).returning(*_TABLE.c))


def claim_run(
    engine: Engine,
    values: dict[str, Any],
    *,
    worker: str,
    lease_seconds: float,
    events: Sequence[EventBuilder] = (),
) -> Claim | None:
    """Create the JobResult as ``running``, or take over a ``pending`` one; None if it is taken or finished.

    ``values`` are the row's columns for a new run (id, name, job_model_id, user_id, ...).
    ``events`` build outbox rows from the claimed row; they commit with the claim. Idempotent per ``values["id"]``:
    a duplicate delivery of a running or finished run claims nothing.
    """
    now = utcnow()
    parameters = {column: values.get(column) for column in _CLAIM_COLUMNS}
    parameters.update(status="running", worker=worker, lease_expires=now + timedelta(seconds=lease_seconds),
                      heartbeat=now, started=now, created=now)
    with transaction(engine) as db:
        row = _claim_statement(Capabilities.of(engine)).first(db, parameters)
        if row is None:
            return None
        added = outbox.add_events(db, [build(row) for build in events])
    return Claim(values["id"], row["attempt"], requeued=row["attempt"] > 1, row=row, events=added)


_NOT_DECIDED = ("attempt", "request")  # the attempt is counted; a decided run is never re-queued from its request


@functools.cache
def _decision_statement(capabilities: Capabilities, columns: tuple[str, ...], announce: bool) -> Prebuilt:
    """The claim statement writing ``columns`` as well: a short run's row, claimed and decided in one write.

    Columns without a value are left out (and keep a pending row's), and so is the
    stored request: the decided run ends (or, in post_run, has its verdict), and is
    never re-queued. With ``announce`` (writable CTEs) the same statement adds the run's
    outbox row (parameters ``event_*``), only if the row was written: one round trip.
    """
    statement = capabilities.insert(_TABLE).values(
        {**{column: bindparam(column) for column in columns}, "attempt": 1}
    )
    decide = statement.on_conflict_do_update(
        index_elements=[_TABLE.c.id],
        set_={**{column: statement.excluded[column] for column in columns if column not in _NEW_ROW_COLUMNS + ("id",)},
              "attempt": _TABLE.c.attempt + 1},
        where=_takes_over(statement),
    ).returning(_TABLE.c.attempt)
    if not announce:
        return Prebuilt(decide)
    decided = decide.cte("decided")
    event = select(*(bindparam(f"event_{column}", type_=outbox.TABLE.c[column].type) for column in outbox.COLUMNS))
    announced = insert(outbox.TABLE).from_select(list(outbox.COLUMNS), event.select_from(decided)).cte("announced")
    return Prebuilt(select(decided.c.attempt).add_cte(announced))


class RunClaim:
    """A run this worker has started without claiming it yet: it claims only if the run lasts.

    Claim, then ack is what keeps a long job from holding its delivery open, and it costs
    a commit and an event of its own. A run that ends within its claim window (the log
    flush interval) needs neither: its one transaction writes the row as claimed and
    decided at once (``start_deciding``), with its data changes and log entries, and the delivery
    is acked after that commit. A run still going when the window closes, or with a full
    batch of log lines to write, is claimed then (``ensure``), from whichever thread gets
    there first; from then on it is an ordinary claimed run.

    Until then a duplicate delivery is stopped at the deciding write, whose ON CONFLICT
    guard lets only a pending row be taken: the job's changes roll back with it.
    """

    def __init__(
        self,
        engine: Engine,
        values: dict[str, Any],
        *,
        worker: str,
        lease_seconds: float,
        events: Sequence[EventBuilder],
        on_claimed: Callable[[Claim], None],
    ) -> None:
        """``on_claimed(claim)`` runs once the claim has committed (publish its events, ack the delivery)."""
        self.engine = engine
        self.job_result_id: uuid.UUID = values["id"]
        self.values = values
        self.worker = worker
        self.lease_seconds = lease_seconds
        self.events = events
        self.listeners: list[Callable[[Claim], None]] = [on_claimed]  # told once the run is claimed
        self.on_lost: Callable[[str], None] | None = None  # told when a late claim finds the run taken
        self.claim: Claim | None = None
        self.deciding = False
        self.lost = False
        self.started = utcnow()
        self._decided_claim: Claim | None = None
        self._lock = threading.Lock()

    @property
    def attempt(self) -> int:
        return self.claim.attempt if self.claim is not None else 0

    @property
    def lost_reason(self) -> str:
        return f"JobResult {self.job_result_id} is no longer this delivery's to run (cancelled, or run by another)"

    def snapshot(self) -> dict[str, Any]:
        """The row as this worker sees it: claimed, or about to be."""
        if self.claim is not None:
            return self.claim.row
        row = {column.key: None for column in _TABLE.c}
        return {**row, **self._lease_values(), **{column: self.values.get(column) for column in _CLAIM_COLUMNS},
                "attempt": 1, **{key: 0 for key in row if key.startswith("log_")}}  # a deferred run is a first one

    def ensure(self) -> Claim | None:
        """Claim the run now unless it is claimed or being decided unclaimed; None in the latter case.

        Raises ``LeaseLost`` when another delivery of the run took it meanwhile.
        """
        with self._lock:
            if self.claim is not None or self.deciding:
                return self.claim
            claim = None if self.lost else claim_run(
                self.engine, self.values, worker=self.worker, lease_seconds=self.lease_seconds, events=self.events)
            self.claim, self.lost = claim, claim is None
        if claim is None:
            if self.on_lost is not None:
                self.on_lost(self.lost_reason)
            raise LeaseLost(self.lost_reason)
        self._claimed(claim)
        return claim

    def start_deciding(self) -> bool:
        """Switch an unclaimed run to being decided by its caller's one write (``write_decision``); no claim follows.

        Returns whether the run is now being decided that way: False once it is claimed (or lost), and the
        caller then writes its decision as an ordinary claimed run's.
        """
        with self._lock:
            if self.claim is None and not self.lost:
                self.deciding = True
            return self.deciding

    def write_decision(
        self, db: DriverConnection, row: Mapping[str, Any], *, running: bool, event: Mapping[str, Any] | None
    ) -> int:
        """Write ``row`` (a ``snapshot()`` with the outcome) claimed and decided, with its outbox ``event``, in ``db``'s
        transaction; returns the attempt. ``running`` keeps the row leased (post_run).

        Raises ``LeaseLost`` when the run is not this delivery's to write.
        """
        parameters = {key: value for key, value in row.items() if value is not None and key not in _NOT_DECIDED}
        capabilities = Capabilities.of(db.dialect)
        announce = event is not None and capabilities.writable_ctes
        if announce:
            parameters.update({f"event_{column}": event[column] for column in outbox.COLUMNS})
        statement = _decision_statement(capabilities, tuple(key for key in parameters if not key.startswith("event_")),
                                      announce)
        written = statement.first(db, parameters)
        if written is None:
            self.lost = True
            raise LeaseLost(self.lost_reason)
        if event is not None and not announce:
            outbox.add_events(db, [event])
        if running:
            self._decided_claim = Claim(self.job_result_id, written["attempt"], requeued=False,
                                        row={**row, "request": None, **written}, events=[])
        return written["attempt"]

    def decision_ended(self, committed: bool = True) -> None:
        """The deciding write committed (or rolled back): a row it left running (post_run) is now claimed.

        From then on the run is an ordinary claimed run: its final write updates the
        row it owns, as a deciding write could not (that write takes only a pending row).
        """
        claim, self._decided_claim = self._decided_claim, None
        if claim is not None and committed:
            with self._lock:
                self.claim, self.deciding = claim, False
            self._claimed(claim)

    def _claimed(self, claim: Claim) -> None:
        for listener in self.listeners:
            listener(claim)

    def _lease_values(self) -> dict[str, Any]:
        now = utcnow()
        return {"status": "running", "worker": self.worker, "lease_expires": now + timedelta(seconds=self.lease_seconds),
                "heartbeat": now, "started": self.started, "created": self.values.get("created") or self.started}


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
