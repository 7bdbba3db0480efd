"""The transactional outbox: events are rows written with the change they describe, published after commit.

Writers add rows inside their own transaction (so a rolled-back change never
announces itself); :class:`OutboxRelay` publishes unpublished rows in order and
stamps them. Publication is at-least-once: a crash between publish and stamp
republishes, with the same ``message_id`` (the row's id), the key consumers deduplicate on.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from queue import Empty, SimpleQueue
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, select, update

from jobruntime.core.backoff import Backoff
from jobruntime.core.capabilities import Capabilities
from jobruntime.core.clock import utcnow
from jobruntime.models import OutboxEvent
from jobruntime.store.prebuilt import DriverConnection, prebuilt_insert

if TYPE_CHECKING:
    from jobruntime.bus.broker import Bus

EVENTS_EXCHANGE = "jobruntime.events"
RUN_EXCHANGE = "jobruntime.run"
TABLE = OutboxEvent.__table__
logger = logging.getLogger(__name__)
STAMP_INTERVAL = 0.5  # seconds between background stamps of published rows
SWEEP_AGE = 5.0  # a sweep publishes rows at least this old that nobody stamped
RETRY_FIRST_DELAY = 0.5  # seconds before a relay retries events the broker refused, doubling up to:
RETRY_MAX_DELAY = 10.0


def event_row(exchange: str, routing_key: str, body: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "created": utcnow(),
        "exchange": exchange,
        "routing_key": routing_key,
        "body": dict(body),
        "published": None,
    }


COLUMNS = ("id", "created", "exchange", "routing_key", "body", "published")  # an event row's keys, in insert order
_INSERT = prebuilt_insert(TABLE, COLUMNS)


def add_events(db: DriverConnection, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert event rows in the caller's transaction; returns them, to publish once it commits."""
    rows = list(rows)
    _INSERT.execute_many(db, rows)
    return rows


def _mark_published(connection: Connection, ids: Sequence[uuid.UUID]) -> None:
    if ids:
        connection.execute(update(TABLE).where(TABLE.c.id.in_(ids)).values(published=utcnow()))


class OutboxRelay:
    """Publishes committed, unpublished events. Several relays may run at once (rows are locked, skipped)."""

    def __init__(self, engine: Engine, bus: Bus, *, batch: int = 200) -> None:
        self.engine = engine
        self.bus = bus
        self.batch = batch
        self._capabilities = Capabilities.of(engine)
        self._queue: SimpleQueue[list[Mapping[str, Any]] | None] = SimpleQueue()
        self._unstamped: list[uuid.UUID] = []
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()

    def publish_pending(self, *, older_than: float = 0.0) -> int:
        """Publish up to one batch of unpublished events (those at least ``older_than`` seconds old)."""
        query = select(TABLE).where(TABLE.c.published.is_(None)).order_by(TABLE.c.created).limit(self.batch)
        if older_than > 0:
            cutoff = datetime.fromtimestamp(utcnow().timestamp() - older_than, timezone.utc)
            query = query.where(TABLE.c.created <= cutoff)
        query = self._capabilities.skipping_locked(query)
        with self.engine.begin() as connection:
            rows = connection.execute(query).all()
            published = [row.id for row in rows if self._publish(row)]
            _mark_published(connection, published)
        return len(published)

    def publish_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Hand over rows this process just committed; the relay's thread publishes them in order.

        The caller (a job's run) does not wait for the broker's confirms. Published rows are
        stamped within ``STAMP_INTERVAL`` (one UPDATE for many rows); sweeps only take rows
        older than ``SWEEP_AGE``, so a row is not sent twice unless this process dies in between.
        """
        if not rows:
            return
        with self._thread_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._relay, name="outbox-relay", daemon=True)
                self._thread.start()
        self._queue.put(list(rows))

    def close(self) -> None:
        """Publish what was handed over, stamp it, and stop the relay's thread."""
        with self._thread_lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()
        self._stamp()

    def _relay(self) -> None:
        """Publish handed-over rows strictly in order; after a failure, retry the oldest first.

        A later event must never overtake an earlier one of the same run (a consumer
        would see ``completed`` and then ``running``), so rows the broker refused stay
        at the head of the backlog and are retried with backoff before anything newer.
        """
        backlog: deque[Mapping[str, Any]] = deque()
        last_stamp = time.monotonic()
        backoff = Backoff(RETRY_FIRST_DELAY, RETRY_MAX_DELAY)
        retry_in = 0.0
        while True:
            try:
                rows = self._queue.get(timeout=retry_in or STAMP_INTERVAL)
            except Empty:
                rows = []
            if rows is None:
                return  # what is left in the backlog is committed: a sweep publishes it
            backlog.extend(rows)
            try:
                if retry_in:
                    self._publish_locked(backlog)
                else:
                    self._publish_in_order(backlog, self._unstamped)
                backoff.reset()
                retry_in = 0.0
            except Exception:  # noqa: BLE001 - the broker stays away; retried, or swept if this process dies
                retry_in = backoff.next()
                logger.warning("Could not publish %d outbox events; retrying in %.1f s", len(backlog), retry_in,
                               exc_info=True)
            if time.monotonic() - last_stamp >= STAMP_INTERVAL:
                last_stamp = time.monotonic()
                try:
                    self._stamp()
                except Exception:  # noqa: BLE001 - unstamped rows are republished by a sweep at worst
                    logger.warning("Could not stamp published outbox events", exc_info=True)

    def _publish_in_order(
        self, backlog: deque[Mapping[str, Any]], sent: list[uuid.UUID], only: set[uuid.UUID] | None = None
    ) -> None:
        """Publish from the head of ``backlog`` (skipping rows not in ``only``), noting what went out in ``sent``.

        Consecutive events go out together, with one wait for the broker's confirms (a batch
        of runs hands its events over at once); a re-queued run's request goes alone. A
        failure leaves the rows that failed, and all after them, in the backlog.
        """
        while backlog:
            events = list(itertools.takewhile(lambda row: row["exchange"] != RUN_EXCHANGE, backlog))
            if events:
                wanted = [row for row in events if only is None or row["id"] in only]
                self.bus.publish_events([(row["routing_key"], row["body"], str(row["id"])) for row in wanted])
                sent.extend(row["id"] for row in wanted)
                for _ in events:
                    backlog.popleft()
                continue
            row = backlog[0]
            if (only is None or row["id"] in only) and self._publish(SimpleNamespace(**row)):
                sent.append(row["id"])
            backlog.popleft()

    def _publish_locked(self, backlog: deque[Mapping[str, Any]]) -> None:
        """Retry the backlog as a sweep publishes: holding the rows' locks, stamping them as it goes.

        While the broker refused this relay, the rows grew old enough for a sweep to
        take them as abandoned; a row a sweep has published or holds is dropped here,
        so neither sends it again after a newer event of the same run.
        """
        query = select(TABLE.c.id).where(TABLE.c.id.in_([row["id"] for row in backlog]),
                                         TABLE.c.published.is_(None))
        query = self._capabilities.skipping_locked(query)
        published: list[uuid.UUID] = []
        failure: Exception | None = None
        with self.engine.begin() as connection:
            mine = set(connection.execute(query).scalars())
            try:
                self._publish_in_order(backlog, published, only=mine)
            except Exception as exc:  # noqa: BLE001 - stamp what went out, then report
                failure = exc
            _mark_published(connection, published)
        if failure is not None:
            raise failure

    def _stamp(self) -> None:
        """Record as published what this relay has published so far (only its thread, or close(), calls this)."""
        ids, self._unstamped = self._unstamped, []
        if ids:
            with self.engine.begin() as connection:
                _mark_published(connection, ids)

    def _publish(self, row: Any) -> bool:
        """Publish one row; a re-queued run whose queue refuses it stays in the outbox for the next pass."""
        if row.exchange != RUN_EXCHANGE:
            self.bus.publish_event(row.routing_key, row.body, message_id=str(row.id))
            return True
        from jobruntime.bus.broker import PublishRefused

        try:
            self.bus.publish_run(json.dumps(row.body).encode(), row.routing_key, message_id=str(row.id))
        except PublishRefused as exc:
            logger.warning("Re-queued run %s not published yet: %s", row.body.get("job_result_id"), exc)
            return False
        return True
