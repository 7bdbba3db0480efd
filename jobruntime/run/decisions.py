"""Deciding short runs together: the deciding writes of a batch's runs that wrote nothing else.

A run whose job left nothing in its transaction (a no-op, a dry run, a run that ended
at initialization) is decided by one statement of its own: its row written claimed and
decided, with its event and buffered log entries. In a worker's batch that statement
waits for the batch's close (``PendingDecision``), and ``write_decisions`` sends the
batch's in one transaction: one round trip for all of them, one synchronous commit
that also makes the batch's other (relaxed) commits durable.

Nothing changes for the run: its deciding write still takes only a new or pending row,
so a duplicate in the same batch (or a copy decided meanwhile) writes nothing and is
lost, its entries and events with it; a crash or a failed write before the commit
leaves the batch's deliveries unacked, to be handled again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jobruntime.run.claim import RunClaim
from jobruntime.run.claim_statements import Decision
from jobruntime.run.log import LogEntry, RunLog
from jobruntime.run.runtime import Runtime
from jobruntime.store.database import commit_flushing
from jobruntime.store.prebuilt import pipelined, transaction

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PendingDecision:
    """A run's deciding write, held for its batch: the row (a claim's snapshot with the outcome), its event,
    and the log entries (with their events) it carries."""

    claim: RunClaim
    run_log: RunLog
    row: dict[str, Any]
    event: dict[str, Any] | None
    entries: list[LogEntry]
    log_events: list[dict[str, Any]]


def write_decisions(runtime: Runtime, pending: Sequence[PendingDecision]) -> list[dict[str, Any]]:
    """Write ``pending`` in one transaction whose commit is synchronous; returns the events of the runs decided.

    On any error nothing is written: each claim is rolled back (its run is handled again when its delivery
    comes back) and the error propagates.
    """
    try:
        with transaction(runtime.engine) as db:
            decisions = [Decision.of(db.dialect, each.row, each.event) for each in pending]
            with pipelined(db):
                commit_flushing(db)
                cursors = [decision.statement.execute(db, decision.parameters) for decision in decisions]
            attempts = [decision.settle(db, decision.statement.first_of(db, cursor))
                        for decision, cursor in zip(decisions, cursors, strict=True)]
            decided = [each for each, attempt in zip(pending, attempts, strict=True) if attempt is not None]
            entries = [entry for each in decided for entry in each.entries]
            if entries:
                runtime.log_writer.write_within(db, entries, [event for each in decided for event in each.log_events])
    except BaseException:
        for each in pending:
            each.run_log.unwritten()
            each.claim.decision_rolled_back()
        raise
    events: list[dict[str, Any]] = []
    for each, attempt in zip(pending, attempts, strict=True):
        if attempt is None:
            logger.info("Run %s was decided by another delivery; this copy's outcome is dropped",
                        each.claim.job_result_id)
            each.run_log.unwritten()
            each.claim.lose()
            continue
        each.run_log.written()
        each.claim.decision_committed()
        events += each.log_events + ([each.event] if each.event is not None else [])
    return events


__all__ = ["PendingDecision", "write_decisions"]
