"""Deciding short runs together: one durable commit, one confirm wait and one multiple ack per batch.

A backlog drains at the pace of what each run waits for alone: a synchronous commit (the
WAL flush), a confirmed event, an ack and the next delivery's round trip. With
``batch_size`` above 1 (and ``prefetch`` above 1, so deliveries wait in the process), a
worker process handles each delivery that has others waiting behind it with a *relaxed*
runtime: the run is handled exactly as always (its data changes commit with its verdict in
its own transaction, or its one deciding write claims and decides it), but its commits do
not wait for the WAL flush, and its events and its ack are held by the batch. The batch
closes when it is full, when it has been open ``batch_time``, when nothing more waits (so
the last run of a burst is not delayed), or when a run outlasts its claim window (its claim
must be durable before its ack). A run that leaves nothing in its job's transaction has its
deciding write held as well (``jobruntime.run.decisions``). Closing writes the held decisions
in one transaction, makes every commit of the batch durable with one synchronous commit
(PostgreSQL flushes its WAL in order), hands the held events to the relay at once (published
with one confirm wait), and settles the batch's deliveries with one ``basic.ack`` with
``multiple=True``.

What runs guarantee does not change. A run's changes and its verdict still commit together;
a duplicate delivery still finds its row decided and changes nothing; no event is published
and no delivery acked before the commits it announces are durable. A crash before the flush
leaves every delivery of the batch unacked, so the broker delivers them again: a run whose
commit survived is then a duplicate, one whose commit was lost with the database runs again.
A delivery with nothing waiting behind it and no batch open (a lone run) is handled with the
synchronous runtime, as without batching, so its latency does not change.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from jobruntime.bus.consumer import Delivery
from jobruntime.run.decisions import PendingDecision, write_decisions
from jobruntime.run.runtime import Runtime
from jobruntime.store.database import flush_commits
from jobruntime.worker.admission import AdmissionReadAhead

logger = logging.getLogger(__name__)
Publish = Callable[[Sequence[dict[str, Any]]], None]


class RunBatch:
    """The deliveries a worker process has handled but not yet settled, and the events their commits hold.

    ``runtime`` commits synchronously (a lone run's); ``relaxed`` is its twin whose commits
    this batch makes durable; ``publish`` hands committed outbox rows to the relay.
    Thread-safe: a run claimed late closes the batch from the thread that claimed it.
    """

    def __init__(self, runtime: Runtime, relaxed: Runtime, publish: Publish, *, size: int, max_age: float) -> None:
        self.runtime = runtime
        self.relaxed = relaxed
        self.publish = publish
        self.size = size
        self.max_age = max_age
        relaxed.on_commit = self._hold
        self.read_ahead = AdmissionReadAhead()
        self._deliveries: list[Delivery] = []
        self._events: list[dict[str, Any]] = []
        self._decisions: list[PendingDecision] = []
        self._opened: float | None = None
        self._lock = threading.RLock()  # the batch's state; never held across a round trip, so runs go on
        self._closing = threading.Lock()  # one close at a time: batches are settled in the order they closed
        self._opening = threading.Condition(self._lock)
        self._closer: threading.Thread | None = None

    def runtime_for(self, delivery: Delivery) -> Runtime:
        """The relaxed runtime while the batch is open or other deliveries wait; else the synchronous one."""
        with self._lock:
            batching = self._opened is not None or delivery.waiting() > 0
        return self.relaxed if batching else self.runtime

    def handled(self, delivery: Delivery, runtime: Runtime) -> None:
        """The handler is done with ``delivery`` (using ``runtime``): keep it for the batch's ack if it is
        unsettled, and close the batch if it is full or old enough."""
        if runtime is not self.relaxed:
            return
        with self._lock:
            if not delivery.settled:
                delivery.keep()
                self._deliveries.append(delivery)
                self._open()
            full = len(self._deliveries) >= self.size
            due = self._opened is not None and time.monotonic() - self._opened >= self.max_age
        if full or due:
            self.close()

    def close(self) -> bool:
        """Write the held decisions, make the batch's commits durable, publish their events, ack its deliveries
        (nothing if it is empty).

        Returns False when that failed (the database went away): the deliveries are then
        handed back to the queue, since their runs' commits may be lost or their decisions
        unwritten, and the events are left to the outbox sweep (rows whose commit survived are
        published from there).
        """
        with self._closing:
            with self._lock:
                deliveries, self._deliveries = self._deliveries, []
                events, self._events = self._events, []
                decisions, self._decisions = self._decisions, []
                self._opened = None
            if not deliveries and not events and not decisions:
                return True
            try:
                if decisions:  # their commit is synchronous: it flushes the batch's other commits as well
                    events += write_decisions(self.relaxed, decisions)
                else:
                    flush_commits(self.relaxed.engine)
            except Exception:  # noqa: BLE001 - the database's fault, not the runs': they are handled again
                logger.warning("Could not make a batch of %d runs durable; handing their deliveries back",
                               len(deliveries), exc_info=True)
                for delivery in deliveries:
                    delivery.hand_back()  # spending no delivery: the queue's delivery limit counts crashes
                return False
            self.publish(events)
            if deliveries:
                deliveries[-1].ack(multiple=True)
            return True

    def defer(self, decision: PendingDecision) -> None:
        """A run that wrote nothing else is decided when the batch closes, with the batch's other such runs."""
        with self._lock:
            self._decisions.append(decision)
            self._open()

    def _hold(self, events: Sequence[dict[str, Any]]) -> None:
        """A relaxed commit's events wait for the batch's flush."""
        with self._lock:
            self._events.extend(events)
            self._open()

    def _open(self) -> None:
        if self._opened is None:
            self._opened = time.monotonic()
            if self._closer is None:
                self._closer = threading.Thread(target=self._close_when_due, name="batch-closer", daemon=True)
                self._closer.start()
            self._opening.notify()

    def _close_when_due(self) -> None:
        """Close a batch ``max_age`` after it opened, even while the run in hand goes on (a run claimed
        late closes it sooner, and the batch's last run at once)."""
        while True:
            with self._lock:
                if self._opened is None:
                    self._opening.wait()
                    continue
                left = self._opened + self.max_age - time.monotonic()
                if left > 0:
                    self._opening.wait(left)
                    continue
            self.close()
