"""The two writes that take a run's JobResult row for a worker: the claim, and the deciding write.

Both are one ``INSERT ... ON CONFLICT`` that creates the row or takes over a
``pending`` one of the same job and the same user, and nothing else: a
duplicate delivery of a running or ended run takes nothing, whichever write
it tries. The claim leaves the row ``running`` with a lease; the deciding write
(a short run's only write) leaves it claimed and decided at once.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, insert, select
from sqlalchemy.engine import Dialect

from jobruntime.bus import outbox
from jobruntime.core.capabilities import Capabilities
from jobruntime.core.clock import utcnow
from jobruntime.models import JobResult
from jobruntime.store.prebuilt import DriverConnection, Prebuilt, transaction

_TABLE = JobResult.__table__

EventBuilder = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Claim:
    """A run this worker now owns: the row id, which attempt this is, and the row as claimed."""

    job_result_id: uuid.UUID
    attempt: int
    requeued: bool
    row: dict[str, Any]
    events: list[dict[str, Any]]


CLAIM_COLUMNS = ("id", "name", "job_model_id", "user_id", "task_queue", "request", "job_kwargs")
_LEASE_COLUMNS = ("status", "worker", "lease_expires", "heartbeat", "started")
_NEW_ROW_COLUMNS = ("created",)  # a new row's only: taking over a pending row keeps its creation time
_NOT_DECIDED = ("attempt", "request")  # the attempt is counted; a decided run is never re-queued from its request


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
        {**{column: bindparam(column) for column in CLAIM_COLUMNS + _LEASE_COLUMNS + _NEW_ROW_COLUMNS}, "attempt": 1}
    )
    taken_over = [column for column in CLAIM_COLUMNS + _LEASE_COLUMNS if column != "id"]
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
    parameters = {column: values.get(column) for column in CLAIM_COLUMNS}
    parameters.update(status="running", worker=worker, lease_expires=now + timedelta(seconds=lease_seconds),
                      heartbeat=now, started=now, created=now)
    with transaction(engine) as db:
        row = _claim_statement(Capabilities.of(engine)).first(db, parameters)
        if row is None:
            return None
        added = outbox.add_events(db, [build(row) for build in events])
    return Claim(values["id"], row["attempt"], requeued=row["attempt"] > 1, row=row, events=added)


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


def decide_run(db: DriverConnection, row: Mapping[str, Any], event: Mapping[str, Any] | None) -> int | None:
    """Write ``row`` claimed and decided, with its outbox ``event``, in ``db``'s transaction; returns the attempt.

    None when the row is not a new or pending one (another delivery has the run, or it ended): nothing was written.
    """
    decision = Decision.of(db.dialect, row, event)
    return decision.settle(db, decision.statement.first(db, decision.parameters))


@dataclass(frozen=True)
class Decision:
    """One deciding write, ready to send: alone (``decide_run``) or with others in one pipeline (a batch's)."""

    statement: Prebuilt
    parameters: dict[str, Any]
    event: Mapping[str, Any] | None  # added by ``settle`` where the statement cannot carry it (no writable CTEs)

    @classmethod
    def of(cls, dialect: Dialect, row: Mapping[str, Any], event: Mapping[str, Any] | None) -> Decision:
        parameters = {key: value for key, value in row.items() if value is not None and key not in _NOT_DECIDED}
        capabilities = Capabilities.of(dialect)
        announce = event is not None and capabilities.writable_ctes
        if announce:
            parameters.update({f"event_{column}": event[column] for column in outbox.COLUMNS})
        columns = tuple(key for key in parameters if not key.startswith("event_"))
        return cls(_decision_statement(capabilities, columns, announce), parameters, None if announce else event)

    def settle(self, db: DriverConnection, written: Mapping[str, Any] | None) -> int | None:
        """The attempt the statement returned (``written``), its event added if the statement could not; None
        when it wrote nothing."""
        if written is None:
            return None
        if self.event is not None:
            outbox.add_events(db, [self.event])
        return written["attempt"]
