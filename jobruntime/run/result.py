"""Writing one run's JobResult row: ``running``, the verdict, the final state, and their events.

The verdict is written inside the job's own transaction (data changes and status
commit together); anything written later goes on its own connection. Each write
carries its ``job.result.<status>`` outbox row when the runtime records events.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session, joinedload

from jobruntime.store.capabilities import Capabilities
from jobruntime.core.clock import utcnow
from jobruntime.core.errors import RunInterrupted
from jobruntime.run.events import result_event_row
from jobruntime.core.limits import REASON_LIMIT, truncate
from jobruntime.authoring.job import LOG_LEVELS
from jobruntime.models import JobResult
from jobruntime.bus.outbox import add_events
from jobruntime.store.prebuilt import DriverConnection, Prebuilt, in_session, one_statement, transaction
from jobruntime.run.runtime import Runtime
from jobruntime.core.statuses import ERRORED, RUNNING

if TYPE_CHECKING:
    from jobruntime.worker.leases import RunClaim
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


class LeaseLost(RunInterrupted, RuntimeError):
    """Another worker took the run over (the lease expired); this attempt must not commit."""


class ResultWriter:
    """Owns the JobResult row of one run, whose log ``run_log`` counts the entries per level.

    With an unclaimed ``claim`` (a worker's run that may end within its claim window)
    the first write of the outcome also claims the row, and carries the log entries
    still buffered, so a short run commits once.
    """

    def __init__(
        self, runtime: Runtime, job_result_id: uuid.UUID, run_log: RunLog, result: JobResult | None,
        claim: RunClaim | None = None,
    ) -> None:
        self.runtime = runtime
        self.job_result_id = job_result_id
        self.run_log = run_log
        self.counts = run_log.counts
        self.result = result
        self.claim = claim
        self.started: datetime | None = None
        self.verdict_events: list[dict[str, Any]] = []
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
        self.started = utcnow()
        self._write(_MARK_RUNNING, {"status": RUNNING, "started": self.started})

    def record_verdict(
        self, session: Session, status: str, reason: str | None, data: dict[str, Any], *, final: bool = True
    ) -> None:
        """Write the verdict in the job's own transaction, so data changes and status commit together.

        The row must still be this attempt's: if the lease was lost to the reaper (this worker
        stalled past it), the job's changes are rolled back rather than applied twice.
        When nothing happens after the commit (no post_run, no late log line) this is the final write.
        A verdict that is not ``final`` (post_run() is still to run) leaves the run ``running``, its
        lease renewed and no status announced, with the verdict kept in its own column: the
        reaper must not run a job again whose changes are committed.
        """
        values = {**self._values(status, reason, data), "completed": utcnow()}
        if final:
            written = {**values, "verdict": None}
        else:
            written = {**values, "status": RUNNING, "reason": None, "completed": None, "verdict": status}
        if self.claim is not None and self.claim.start_deciding():
            if session.in_transaction() or self.run_log.buffered:
                self.verdict_events = self._decide_unclaimed(in_session(session), written, running=not final)
            else:  # the job never used the database and logged nothing: one autocommitted statement
                with one_statement(self.runtime.engine) as db:
                    self.verdict_events = self._decide_unclaimed(db, written, running=not final)
            self._committed = values if final else None
            return
        events = self._events(values) if final else []
        parameters = {**written, "_id": self.job_result_id, "_attempt": self._attempt()}
        if events or session.in_transaction() or not Capabilities.of(self.runtime.engine).autocommit_statements:
            db = in_session(session)
            updated = _VERDICT.execute(db, parameters)
        else:  # the job never used the database: the verdict is the whole transaction
            with one_statement(self.runtime.engine) as db:
                updated = _VERDICT.execute(db, parameters)
        if updated.rowcount != 1:
            raise LeaseLost(f"JobResult {self.job_result_id} was taken over; this attempt's changes are discarded")
        self.verdict_events = add_events(db, events) if events else []
        self._committed = values if final else None

    def verdict_committed(self) -> None:
        """The job's transaction, verdict included, committed: announce it."""
        self.run_log.written()
        if self.claim is not None:
            self.claim.decision_ended()
        self.runtime.committed(self.verdict_events)

    def verdict_rolled_back(self) -> None:
        """The job's transaction rolled back: log entries it carried are buffered again for the next write."""
        self.run_log.unwritten()
        if self.claim is not None:
            self.claim.decision_ended(committed=False)
        self.verdict_events = []
        self._committed = None

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

    def _write(self, statement: Prebuilt, values: dict[str, Any]) -> None:
        """Update the row (and announce it) durably on its own connection, outside the job's transaction."""
        if self.claim is not None and self.claim.start_deciding():
            try:
                with (transaction if self.run_log.buffered else one_statement)(self.runtime.engine) as db:
                    events = self._decide_unclaimed(db, values, running=False)
            except BaseException:
                self.run_log.unwritten()
                raise
            self.run_log.written()
            self.runtime.committed(events)
            return
        events = self._events(values)
        with transaction(self.runtime.engine) as db:
            written = statement.execute(db, {**values, "_id": self.job_result_id, "_attempt": self._attempt()})
            if written.rowcount != 1:
                raise LeaseLost(f"JobResult {self.job_result_id} was taken over; this attempt's outcome is discarded")
            add_events(db, events)
        self.runtime.committed(events)

    def _decide_unclaimed(self, db: DriverConnection, values: dict[str, Any], *, running: bool) -> list[dict[str, Any]]:
        """Claim and decide the row in ``db``'s transaction with the buffered log entries; returns the outbox rows.

        The entries' events are made first, so they are announced (and swept) before the result.
        """
        entries, log_events = self.run_log.take()
        row = {**self.claim.snapshot(), "verdict": None, **values}
        events = self._events(row)
        self.result.attempt = self.claim.write_decision(db, row, running=running, event=events[0] if events else None)
        self.run_log.write_within(db, entries, log_events)
        return log_events + events
