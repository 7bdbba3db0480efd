"""A worker's claim on a run: one object, one state, named transitions.

Claim, then ack is what keeps a long job from holding its delivery open, and it
costs a commit and an event of its own. A run that ends within its claim window
(the log flush interval) needs neither: its one transaction writes the row
claimed and decided at once (the *deciding write*), with its data changes and
log entries, and the delivery is acked after that commit. A run still going
when the window closes, or with a full batch of log lines to write, is claimed
then, from whichever thread gets there first (the log flusher, the job's own
log call, a middleware); from then on it is an ordinary claimed run.

The states and the transitions between them, each a method that checks the
state it starts from (under one lock) and raises ``ImpossibleTransition``
from any other::

    UNCLAIMED --ensure()----------------> CLAIMED         (the claim committed)
    UNCLAIMED --start_deciding()--------> DECIDING        (the deciding write is under way)
    DECIDING  --decision_committed()----> DECIDED         (the run ended in that write)
    DECIDING  --decision_committed()----> CLAIMED         (post_run: the write left the row running)
    DECIDING  --decision_rolled_back()--> UNCLAIMED       (its transaction rolled back)
    UNCLAIMED, DECIDING, CLAIMED --lose()--> LOST         (another delivery has the row, or it ended)

Until the run is claimed a duplicate delivery is stopped at the deciding write,
whose ON CONFLICT guard lets only a pending row be taken: the job's changes
roll back with it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from enum import Enum
from typing import Any

from sqlalchemy import Engine

from jobruntime.core.clock import utcnow
from jobruntime.core.errors import JobRuntimeError, RunInterrupted
from jobruntime.models import JobResult
from jobruntime.run.claim_statements import CLAIM_COLUMNS, Claim, EventBuilder, claim_run, decide_run
from jobruntime.store.prebuilt import DriverConnection

_TABLE = JobResult.__table__


class LeaseLost(RunInterrupted, RuntimeError):
    """Another worker took the run over (the lease expired); this attempt must not commit."""


class ImpossibleTransition(JobRuntimeError, RuntimeError):
    """A run's claim was asked to move from a state that has no such transition: a bug in the run's write order."""

    def __init__(self, job_result_id: uuid.UUID, transition: str, state: ClaimState) -> None:
        super().__init__(
            f"The claim on run {job_result_id} cannot {transition} while it is {state.value}; "
            f"this is a bug in jobruntime's run path: report it with this message"
        )
        self.state = state


class ClaimState(Enum):
    """Where a worker's run stands with its JobResult row."""

    UNCLAIMED = "unclaimed"  # running, nothing of this delivery's written yet
    DECIDING = "deciding"  # the deciding write is made in a transaction that has not ended yet
    DECIDED = "decided"  # the deciding write committed the run's end: there is nothing left to claim
    CLAIMED = "claimed"  # the row is this attempt's, running with a lease
    LOST = "lost"  # the row is not this delivery's (another has it, or it ended): nothing more of it commits


class RunClaim:
    """The claim of a run this worker has started: made only if the run lasts (see the module's states)."""

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
        self.started = utcnow()
        self._state = ClaimState.UNCLAIMED
        self._claim: Claim | None = None  # set in CLAIMED only
        self._left_running: Claim | None = None  # in DECIDING: the claim a post_run deciding write becomes
        self._lock = threading.Lock()

    @property
    def state(self) -> ClaimState:
        return self._state

    @property
    def claimed(self) -> Claim | None:
        """The committed claim while the run is claimed, else None."""
        return self._claim

    @property
    def attempt(self) -> int:
        """The claimed attempt; 0 while there is no claim (and so no lease to renew)."""
        claim = self._claim
        return claim.attempt if claim is not None else 0

    @property
    def lost_reason(self) -> str:
        return f"JobResult {self.job_result_id} is no longer this delivery's to run (cancelled, or run by another)"

    def snapshot(self) -> dict[str, Any]:
        """The row as this worker sees it: claimed, or about to be."""
        claim = self._claim
        if claim is not None:
            return claim.row
        row = {column.key: None for column in _TABLE.c}
        return {**row, **self._lease_values(), **{column: self.values.get(column) for column in CLAIM_COLUMNS},
                "attempt": 1, **{key: 0 for key in row if key.startswith("log_")}}  # a deferred run is a first one

    # --- transitions ---------------------------------------------------------

    def ensure(self) -> Claim | None:
        """Claim an unclaimed run now (UNCLAIMED -> CLAIMED); returns the claim, or None while a deciding write
        is under way or has decided the run (it needs no claim).

        Raises ``LeaseLost`` (UNCLAIMED -> LOST) when another delivery of the run took it meanwhile, and again
        on every later call.
        """
        with self._lock:
            if self._state in (ClaimState.DECIDING, ClaimState.DECIDED):
                return None
            if self._state is ClaimState.CLAIMED:
                return self._claim
            if self._state is ClaimState.UNCLAIMED:
                claim = claim_run(self.engine, self.values, worker=self.worker, lease_seconds=self.lease_seconds,
                                  events=self.events)
                if claim is not None:
                    self._move("claim", (ClaimState.UNCLAIMED,), ClaimState.CLAIMED, claim)
                else:
                    self._move("lose", (ClaimState.UNCLAIMED,), ClaimState.LOST)
            claim = self._claim
        if claim is None:
            if self.on_lost is not None:
                self.on_lost(self.lost_reason)
            raise LeaseLost(self.lost_reason)
        self._claimed(claim)
        return claim

    def start_deciding(self) -> bool:
        """Whether the caller's next write decides the run (UNCLAIMED -> DECIDING): True, and no claim follows
        unless that write's transaction rolls back; False once the run is claimed, whose writes update its row.

        Raises ``LeaseLost`` once the run is lost, and ``ImpossibleTransition`` while another deciding write is
        under way or after one has decided the run.
        """
        with self._lock:
            if self._state is ClaimState.CLAIMED:
                return False
            if self._state is ClaimState.LOST:
                raise LeaseLost(self.lost_reason)
            self._move("start deciding", (ClaimState.UNCLAIMED,), ClaimState.DECIDING)
            return True

    def write_decision(
        self, db: DriverConnection, row: Mapping[str, Any], *, running: bool, event: Mapping[str, Any] | None
    ) -> int:
        """Write ``row`` (a ``snapshot()`` with the outcome) claimed and decided, with its outbox ``event``, in
        ``db``'s transaction; returns the attempt. ``running`` keeps the row leased (post_run): once committed,
        the run is claimed.

        Raises ``LeaseLost`` (DECIDING -> LOST) when the run is not this delivery's to write.
        """
        if self._state is not ClaimState.DECIDING:
            raise ImpossibleTransition(self.job_result_id, "write its decision", self._state)
        attempt = decide_run(db, row, event)
        if attempt is None:
            self.lose()
            raise LeaseLost(self.lost_reason)
        if running:
            self._left_running = Claim(self.job_result_id, attempt, requeued=False,
                                       row={**row, "request": None, "attempt": attempt}, events=[])
        return attempt

    def decision_committed(self) -> None:
        """The deciding write committed: the run is decided (DECIDING -> DECIDED), or claimed if the write left
        its row running (DECIDING -> CLAIMED), and its later writes update the row it owns."""
        with self._lock:
            claim, self._left_running = self._left_running, None
            self._move("commit its decision", (ClaimState.DECIDING,),
                       ClaimState.DECIDED if claim is None else ClaimState.CLAIMED, claim)
        if claim is not None:
            self._claimed(claim)

    def decision_rolled_back(self) -> None:
        """The deciding write's transaction rolled back (DECIDING -> UNCLAIMED): the next write decides the run,
        unless it is claimed before."""
        with self._lock:
            self._left_running = None
            self._move("roll its decision back", (ClaimState.DECIDING,), ClaimState.UNCLAIMED)

    def lose(self) -> None:
        """The row turned out not to be this delivery's (-> LOST): nothing more of this run may commit."""
        with self._lock:
            self._left_running = None
            self._move("lose the run", (ClaimState.UNCLAIMED, ClaimState.DECIDING, ClaimState.CLAIMED),
                       ClaimState.LOST)

    def _move(self, transition: str, sources: tuple[ClaimState, ...], target: ClaimState,
              claim: Claim | None = None) -> None:
        """Change state (the caller holds the lock); ``claim`` is the committed claim of a move to CLAIMED."""
        if self._state not in sources:
            raise ImpossibleTransition(self.job_result_id, transition, self._state)
        self._state, self._claim = target, claim

    def _claimed(self, claim: Claim) -> None:
        for listener in self.listeners:
            listener(claim)

    def _lease_values(self) -> dict[str, Any]:
        now = utcnow()
        return {"status": "running", "worker": self.worker, "lease_expires": now + timedelta(seconds=self.lease_seconds),
                "heartbeat": now, "started": self.started, "created": self.values.get("created") or self.started}


__all__ = ["Claim", "ClaimState", "ImpossibleTransition", "LeaseLost", "RunClaim"]
