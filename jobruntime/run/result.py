"""Writing one run's JobResult row: ``running``, the verdict, the final state, and their events.

The verdict is written inside the job's own transaction (data changes and status
commit together); anything written later goes on its own connection. Each write
carries its ``job.result.<status>`` outbox row when the runtime records events.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session, joinedload

from jobruntime.authoring.job import LOG_LEVELS
from jobruntime.bus.outbox import add_events
from jobruntime.core.capabilities import Capabilities
from jobruntime.core.clock import utcnow
from jobruntime.core.limits import REASON_LIMIT, truncate
from jobruntime.core.statuses import ERRORED, RUNNING
from jobruntime.models import JobResult
from jobruntime.run.claim import ClaimState, LeaseLost, RunClaim
from jobruntime.run.decisions import PendingDecision
from jobruntime.run.events import result_event_row
from jobruntime.run.runtime import Runtime
from jobruntime.store.prebuilt import DriverConnection, Prebuilt, in_session, one_statement, transaction

if TYPE_CHECKING:
    from jobruntime.run.log import RunLog

_TABLE = JobResult.__table__
_FINAL_COLUMNS = ("status", "reason", "data", "source", "completed", *(f"log_{level}" for level in LOG_LEVELS))
_VERDICT_COLUMNS = (*_FINAL_COLUMNS, "verdict")


def _prebuilt_update(columns: tuple[str, ...], *guards: Any) -> Prebuilt:
    return Prebuilt(
        update(_TABLE)
        .where(_TABLE.c.id == bindparam("_id"), *guards)
        .values({column: bindparam(column) for column in columns})
    )


_MARK_RUNNING = _prebuilt_update(("status", "started"))
_FINAL = _prebuilt_update(_FINAL_COLUMNS, _TABLE.c.attempt == bindparam("_attempt"))
_VERDICT = _prebuilt_update(_VERDICT_COLUMNS, _TABLE.c.status == RUNNING, _TABLE.c.attempt == bindparam("_attempt"))


class ResultWriter:
    """Owns the JobResult row of one run, whose log ``run_log`` counts the entries per level.

    Every outcome (the verdict, the final state) goes through ``_write``. With an
    unclaimed ``claim`` (a worker's run that may end within its claim window) that
    write is the deciding write: it claims and decides the row at once and carries
    the log entries still buffered, so a short run commits once. In a worker's batch
    (``defer_decision``), a deciding write that carries nothing of the job's is handed to
    the batch instead, which writes it with its others (``jobruntime.run.decisions``).
    """

    def __init__(
        self, runtime: Runtime, job_result_id: uuid.UUID, run_log: RunLog, result: JobResult | None,
        claim: RunClaim | None = None, defer_decision: Callable[[PendingDecision], None] | None = None,
    ) -> None:
        """``defer_decision`` (a worker's batch) takes a deciding write that carries nothing of the job's, to send
        it with the batch's others (``jobruntime.run.decisions``)."""
        self.runtime = runtime
        self.job_result_id = job_result_id
        self.run_log = run_log
        self.counts = run_log.counts
        self.result = result
        self.claim = claim
        self.defer_decision = defer_decision
        self.started: datetime | None = None
        self._uncommitted: list[dict[str, Any]] = []  # the outbox rows of a write in the job's open transaction
        self._committed: dict[str, Any] | None = None
        self.source: str | None = None  # git.<slug>@<commit> once a Git job's run is pinned

    def load(self) -> JobResult:
        """The JobResult (with its Job record and user), read unless the caller handed it over."""
        if self.result is None:
            with self.runtime.session(autocommit=True) as session:
                self.result = session.get(
                    JobResult, self.job_result_id,
                    options=[joinedload(JobResult.job_model), joinedload(JobResult.user)],
                )
            if self.result is None:
                raise LookupError(f"JobResult {self.job_result_id} does not exist")
        return self.result

    def mark_running(self) -> None:
        """A pending row (a local run's) is now running; a worker's run was claimed or starts unclaimed instead."""
        self.started = utcnow()
        values = {"status": RUNNING, "started": self.started}
        events = self._events(values)
        with self._connection(None, alone=not events) as db:
            self._update(db, _MARK_RUNNING, values, events)
        self.runtime.committed(events)

    def record_verdict(
        self, session: Session, status: str, reason: str | None, data: dict[str, Any], *, final: bool = True
    ) -> None:
        """Write the verdict in the job's own transaction, so data changes and status commit together;
        ``verdict_committed`` or ``verdict_rolled_back`` follows.

        The row must still be this attempt's: if the lease was lost to the reaper (this worker
        stalled past it), the job's changes are rolled back rather than applied twice.
        When nothing happens after the commit (no post_run, no late log line) this is the final write.
        A verdict that is not ``final`` (post_run() is still to run) leaves the run ``running``, its
        lease renewed and no status announced, with the verdict kept in its own column: the
        reaper must not run a job again whose changes are committed.
        """
        if final and self._decided_later(session):
            return  # nothing of the job's commits with it: ``finish`` writes the outcome, with its batch
        values = {**self._values(status, reason, data), "completed": utcnow()}
        if final:
            written = {**values, "verdict": None}
        else:
            written = {**values, "status": RUNNING, "reason": None, "completed": None, "verdict": status}
        self._write(_VERDICT, written, session=session, running=not final)
        self._committed = values if final else None

    def verdict_committed(self) -> None:
        """The job's transaction, verdict included, committed: announce it."""
        events, self._uncommitted = self._uncommitted, []
        self._ended(events, committed=True)

    def verdict_rolled_back(self) -> None:
        """The job's transaction rolled back (with the verdict, if it was written): log entries it carried are
        buffered again for the next write."""
        self._uncommitted, self._committed = [], None
        self._ended([], committed=False)

    def finish(self, status: str, reason: str | None, data: dict[str, Any] | None) -> JobResult:
        """Write the final state unless the verdict already said it all; returns the JobResult as stored."""
        values = self._values(status, reason, data)
        committed = self._committed
        if committed is not None and all(committed[key] == value for key, value in values.items()):
            values["completed"] = committed["completed"]
        else:
            values["completed"] = utcnow()
            self._write(_FINAL, values)
        result = self.load()
        for key, value in {**values, "started": self.started or result.started}.items():
            setattr(result, key, value)
        return result

    def _write(
        self, statement: Prebuilt, values: dict[str, Any], *, session: Session | None = None, running: bool = False
    ) -> None:
        """Write an outcome: ``values`` (columns of ``statement``) and its event; ``running`` keeps the run going
        (post_run), unannounced.

        The claim chooses the statement: a worker's run not claimed yet is claimed and decided by this
        one write, with the log entries still buffered; any other run's row is updated, guarded by its
        attempt. What goes with it chooses the connection: the job's ``session`` when its transaction is
        open (its changes commit with the outcome) or when there is more than one statement to run, one
        autocommitted statement when the write stands alone, else a transaction of its own. Written
        outside the job's session, it is announced once committed.
        """
        try:
            deciding = self.claim is not None and self.claim.start_deciding()
            entries, log_events = self.run_log.take() if deciding else ([], [])
            row = {**self.claim.snapshot(), "verdict": None, **values} if deciding else values
            events = [] if running and not deciding else self._events(row)  # a deciding write announces ``running``
            if deciding and session is None and not running and self.defer_decision is not None:
                self.defer_decision(PendingDecision(self.claim, self.run_log, row, events[0] if events else None,
                                                    entries, log_events))
                return  # the batch settles the claim, the entries and the events once its write commits
            with self._connection(session, alone=not (entries if deciding else events)) as db:
                if deciding:
                    self.result.attempt = self.claim.write_decision(db, row, running=running,
                                                                    event=events[0] if events else None)
                    self.run_log.write_within(db, entries, log_events)
                else:
                    self._update(db, statement, values, events)
        except BaseException:
            if session is None:
                self._ended([], committed=False)
            raise
        events = log_events + events  # the entries' events first: they are announced (and swept) before the result
        if session is None:
            self._ended(events, committed=True)
        else:
            self._uncommitted = events

    def _decided_later(self, session: Session) -> bool:
        """Whether the run's outcome is left to a batch's deciding write: it has one, the run is unclaimed, and
        the job's transaction holds nothing to commit with the outcome."""
        return (self.defer_decision is not None and self.claim is not None
                and self.claim.state is ClaimState.UNCLAIMED and not session.in_transaction())

    def _update(self, db: DriverConnection, statement: Prebuilt, values: dict[str, Any],
                events: list[dict[str, Any]]) -> None:
        """Update the row this attempt owns, with its outbox rows; ``LeaseLost`` when a later attempt owns it."""
        written = statement.execute(db, {**values, "_id": self.job_result_id, "_attempt": self._attempt()})
        if written.rowcount != 1:
            if self.claim is not None:
                self.claim.lose()
            raise LeaseLost(f"JobResult {self.job_result_id} was taken over; this attempt's outcome "
                            f"(and its changes, if any) are discarded")
        if events:
            add_events(db, events)

    @contextmanager
    def _connection(self, session: Session | None, *, alone: bool) -> Iterator[DriverConnection]:
        """Where a write goes (see ``_write``); ``alone``: one statement with nothing else to write."""
        alone = alone and Capabilities.of(self.runtime.engine).autocommit_statements
        if session is not None and (session.in_transaction() or not alone):
            yield in_session(session)
            return
        with (one_statement if alone else transaction)(self.runtime.engine) as db:
            yield db

    def _ended(self, events: list[dict[str, Any]], *, committed: bool) -> None:
        """The transaction carrying a write ended: the log entries and the claim follow it; ``events`` are
        announced once committed."""
        deciding = self.claim is not None and self.claim.state is ClaimState.DECIDING
        if committed:
            self.run_log.written()
            if deciding:
                self.claim.decision_committed()
            self.runtime.committed(events)
        else:
            self.run_log.unwritten()
            if deciding:
                self.claim.decision_rolled_back()

    def _values(self, status: str, reason: str | None, data: dict[str, Any] | None) -> dict[str, Any]:
        sanitize, output_limit = self.runtime.sanitizer, self.runtime.settings.max_stored_text
        stored = None if data is None else {**data, "output": truncate(sanitize(data.get("output", "")), output_limit)}
        return {
            "status": status,
            "reason": truncate(sanitize(reason), REASON_LIMIT) if status == ERRORED and reason else None,
            "data": stored,
            "source": self.source,
            **{f"log_{level}": count for level, count in self.counts.items()},
        }

    def _events(self, values: dict[str, Any]) -> list[dict[str, Any]]:
        if not self.runtime.events or self.result is None:
            return []
        result = self.result
        row = {column: getattr(result, column) for column in ("id", "name", "created", "started", "task_queue")}
        row = {**row, "started": self.started or result.started, **values}
        user = result.user.username if result.user is not None else None
        return [result_event_row(row, username=user)]

    def _attempt(self) -> int:
        """This run's attempt: a later one (the reaper re-queued it while this one stalled) owns the row."""
        if self.claim is not None:
            return self.claim.attempt
        return self.load().attempt
