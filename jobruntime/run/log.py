"""A run's log: sanitised entries, buffered and written in batches on their own connection.

Log entries must survive the job's rollback and must not cost a round trip per
line, so they never go through the job's session: they are buffered here and
written by a :class:`LogWriter` (PostgreSQL ``COPY`` or a multi-row ``INSERT``)
on a separate connection. SQLite has a single writer, so there the buffer is only
written at the engine's safe points, once the job's transaction is resolved;
until then full batches wait in a temporary file, not in memory.
"""

from __future__ import annotations

import logging
import pickle
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Connection, Engine, bindparam, func, insert, select

from jobruntime.authoring.job import LOG_LEVELS
from jobruntime.bus import outbox
from jobruntime.core.capabilities import Capabilities
from jobruntime.core.clock import utcnow
from jobruntime.core.limits import truncate
from jobruntime.core.sanitize import Sanitizer
from jobruntime.models import JobLogEntry
from jobruntime.run.claim import ClaimState
from jobruntime.run.events import log_event_rows
from jobruntime.store.prebuilt import DriverConnection, Prebuilt, on_connection

if TYPE_CHECKING:
    from jobruntime.run.claim import RunClaim

_PYTHON_LEVELS = {"failure": logging.ERROR, "warning": logging.WARNING}
logger = logging.getLogger(__name__)
LOG_COLUMNS = (
    "job_result_id", "seq", "log_level", "grouping", "message",
    "created", "log_object", "object_type", "object_id", "absolute_url",
)


class LogEntry(NamedTuple):
    """One log line, in LOG_COLUMNS order; the database (or the model's default) draws its id."""

    job_result_id: uuid.UUID
    seq: int
    log_level: str
    grouping: str
    message: str
    created: datetime
    log_object: str | None
    object_type: str | None
    object_id: str | None
    absolute_url: str | None


class LogWriter:
    """Writes batches of entries in one round trip (``COPY`` on PostgreSQL), with their events if asked.

    With ``events`` the batch and its ``job.log.<level>`` outbox rows commit together,
    then ``on_commit`` lets the caller publish them.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        autocommit_engine: Engine | None = None,
        events: bool = False,
        on_commit: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> None:
        self.engine = engine
        self.autocommit_engine = autocommit_engine
        self.events = events
        self.on_commit = on_commit
        self._use_copy = Capabilities.of(engine).copy
        self._insert = insert(JobLogEntry.__table__)

    @property
    def concurrent(self) -> bool:
        """Whether writing while a job's transaction is open is safe (not on SQLite)."""
        return Capabilities.of(self.engine).concurrent_writes

    def write(self, entries: Sequence[LogEntry]) -> None:
        if not entries:
            return
        events: list[dict[str, Any]] = []
        if self.events:
            with self.engine.begin() as connection:
                self._insert_rows(connection, entries)
                events = outbox.add_events(on_connection(connection), log_event_rows(entries))
        elif self.autocommit_engine is not None:
            with self.autocommit_engine.connect() as connection:
                self._insert_rows(connection, entries)
        else:
            with self.engine.begin() as connection:
                self._insert_rows(connection, entries)
        if events and self.on_commit is not None:
            self.on_commit(events)

    def event_rows(self, entries: Sequence[LogEntry]) -> list[dict[str, Any]]:
        """The outbox rows announcing ``entries`` (none when this writer records no events)."""
        return list(log_event_rows(entries)) if self.events and entries else []

    def write_within(self, db: DriverConnection, entries: Sequence[LogEntry], events: Sequence[dict[str, Any]]) -> None:
        """Write ``entries`` and their ``events`` in the caller's transaction (PostgreSQL)."""
        if entries:
            self._copy(db.connection, entries)
            outbox.add_events(db, events)

    def _insert_rows(self, connection: Connection, entries: Sequence[LogEntry]) -> None:
        if not self._use_copy:
            connection.execute(self._insert, [entry._asdict() for entry in entries])
            return
        self._copy(connection.connection.driver_connection, entries)

    @staticmethod
    def _copy(driver_connection: Any, entries: Sequence[LogEntry]) -> None:
        with driver_connection.cursor().copy(f"COPY job_log_entry ({', '.join(LOG_COLUMNS)}) FROM STDIN") as copy:
            for entry in entries:
                copy.write_row(entry)


LOG_OBJECT_LENGTH = 200  # the stored display string's limit (the column's size)


def describe_object(obj: Any) -> tuple[str | None, str | None, str | None, str | None]:
    """(display, model label, pk, url) of a logged object; a falsy object is no object.

    The display string is whole: the caller sanitizes it before cutting it to
    ``LOG_OBJECT_LENGTH``, so a cut never splits a secret out of the sanitizer's reach.
    """
    if not obj:
        return None, None, None, None
    display = str(obj)
    label = getattr(obj, "_meta_label", None)
    pk = getattr(obj, "pk", None)
    url = None
    get_url = getattr(obj, "get_absolute_url", None)
    if get_url is not None:
        try:
            url = get_url()
        except Exception:  # noqa: BLE001 - a broken URL must never break logging
            url = None
        if url is not None and len(url) > 255:
            url = None
    return display, label, None if pk is None else str(pk), url


_ENTRIES = JobLogEntry.__table__
_LAST_SEQ = Prebuilt(
    select(func.max(_ENTRIES.c.seq).label("last")).where(_ENTRIES.c.job_result_id == bindparam("job_result_id"))
)


def last_seq(db: DriverConnection, job_result_id: uuid.UUID) -> int:
    """The highest ``seq`` a run has logged so far (0 for none).

    A re-run attempt numbers its entries after it, so a follower that has shown the
    earlier attempt's lines still shows every new one, and in order.
    """
    row = _LAST_SEQ.first(db, {"job_result_id": job_result_id})
    return (row or {}).get("last") or 0


class RunLog:
    """Collects one run's log entries, counts them per level and writes them in batches."""

    def __init__(
        self,
        job_result_id: uuid.UUID,
        writer: LogWriter,
        sanitizer: Sanitizer,
        *,
        batch_size: int = 500,
        flush_interval: float = 0.5,
        max_message: int = 1024 * 1024,
        logger: logging.Logger | None = None,
    ) -> None:
        self.job_result_id = job_result_id
        self.writer = writer
        self.sanitize = sanitizer
        self.max_message = max_message
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.logger = logger or logging.getLogger("jobruntime.jobs")
        self.counts = dict.fromkeys(LOG_LEVELS, 0)
        self.listeners: list[Callable[[LogEntry], None]] = []
        self.live = writer.concurrent
        self.deferred: RunClaim | None = None  # an unclaimed run: entries wait for its claim or its deciding write
        self._in_flight: list[LogEntry] = []  # taken by a deciding write that has not committed yet
        self._buffer: list[LogEntry] = []
        self._spill: IO[bytes] | None = None
        self._seq = 0
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()  # the job's thread adds while a LogFlusher may flush
        self._write_lock = threading.Lock()  # one write at a time, so batches land in order

    def continue_after(self, seq: int) -> None:
        """Number the next entry ``seq + 1`` (before any entry is added)."""
        self._seq = max(self._seq, seq)

    def add(self, level: str, grouping: str, message: str, obj: Any = None) -> LogEntry:
        """Record one entry; raises ValueError for a level outside LOG_LEVELS."""
        if level not in self.counts:
            raise ValueError(f"Unknown logging level: {level}")
        message = truncate(self.sanitize(message), self.max_message)  # sanitized whole: a cut never hides a secret
        display = label = pk = url = None
        if obj:
            display, label, pk, url = describe_object(obj)
            display = self.sanitize(display)[:LOG_OBJECT_LENGTH]
        with self._lock:
            self._seq += 1
            entry = LogEntry(
                self.job_result_id, self._seq, level, grouping[:100], message,
                utcnow(), display, label, pk, url,
            )
            self.counts[level] += 1
            self._buffer.append(entry)
        python_level = _PYTHON_LEVELS.get(level, logging.INFO)
        if self.logger.isEnabledFor(python_level):
            self.logger.log(python_level, "%s: %s", grouping, message)
        for listener in self.listeners:
            listener(entry)
        if len(self._buffer) >= self.batch_size:
            if self.live:
                self._flush(claim=True)
            else:
                self._spill_buffer()
        elif self.live and time.monotonic() - self._last_flush >= self.flush_interval:
            self._flush(claim=True)
        return entry

    def _spill_buffer(self) -> None:
        """Keep memory flat while entries must wait for a safe point: park full batches on disk."""
        if self._spill is None:
            self._spill = tempfile.TemporaryFile()
        pickle.dump(self._buffer, self._spill, protocol=pickle.HIGHEST_PROTOCOL)
        self._buffer = []

    def flush(self) -> None:
        """Write what is buffered (parked batches first, in order). The engine calls this at its safe points.

        An unclaimed run keeps its entries for its deciding write (or its claim).
        """
        self._flush(claim=False)

    def _flush(self, *, claim: bool) -> None:
        deferred = self.deferred
        if deferred is not None and deferred.claimed is None:  # entries wait, unless the run is claimed now
            if not claim or deferred.state is not ClaimState.UNCLAIMED or deferred.ensure() is None:
                return
        with self._write_lock:
            if self._spill is not None:
                spill, self._spill = self._spill, None
                with spill:
                    spill.seek(0)
                    while True:
                        try:
                            self.writer.write(pickle.load(spill))
                        except EOFError:
                            break
            with self._lock:
                entries, self._buffer = self._buffer, []
            if entries:
                try:
                    self.writer.write(entries)
                except BaseException:
                    with self._lock:  # not lost: the next flush writes them, ahead of what came since
                        self._buffer[:0] = entries
                    raise
            self._last_flush = time.monotonic()

    def flush_if_due(self) -> None:
        """Flush entries older than the flush interval, from any thread (only when writes may run concurrently).

        An unclaimed run is claimed once it has run that long, entries or not.
        """
        waiting = self._buffer or (self.deferred is not None and self.deferred.claimed is None)
        if self.live and waiting and time.monotonic() - self._last_flush >= self.flush_interval:
            self._flush(claim=True)

    @property
    def buffered(self) -> bool:
        """Whether entries wait to be written."""
        return bool(self._buffer or self._in_flight or self._spill)

    def take(self) -> tuple[list[LogEntry], list[dict[str, Any]]]:
        """The buffered entries and their events, for a deciding write; ``written()`` or ``unwritten()`` follows."""
        with self._lock:
            self._in_flight, self._buffer = self._in_flight + self._buffer, []
            entries = list(self._in_flight)
        return entries, self.writer.event_rows(entries)

    def write_within(self, db: DriverConnection, entries: Sequence[LogEntry], events: Sequence[dict[str, Any]]) -> None:
        """Write entries from ``take()`` in a deciding write's transaction, after its row."""
        self.writer.write_within(db, entries, events)

    def written(self) -> None:
        """The deciding write committed its entries."""
        with self._lock:
            self._in_flight = []
        self._last_flush = time.monotonic()

    def unwritten(self) -> None:
        """The deciding write rolled back: its entries go back ahead of the buffer, for the next write."""
        with self._lock:
            self._buffer[:0], self._in_flight = self._in_flight, []


class LogFlusher:
    """Flushes the log of the run in hand from one background thread per worker process.

    A run buffers its entries and writes them when it logs again; a job that logs, then
    sleeps or waits, would otherwise leave them unwritten (unseen by followers, and lost
    if the process dies) until it logs once more or ends.
    """

    def __init__(self, interval: float) -> None:
        self.interval = max(interval, 0.05)
        self._current: RunLog | None = None
        self._thread: threading.Thread | None = None

    @contextmanager
    def holding(self, run_log: RunLog) -> Iterator[None]:
        """Flush ``run_log`` on time while the body runs."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="log-flusher", daemon=True)
            self._thread.start()
        self._current = run_log
        try:
            yield
        finally:
            self._current = None

    def _loop(self) -> None:
        while True:
            time.sleep(self.interval)
            run_log = self._current
            if run_log is None:
                continue
            try:
                run_log.flush_if_due()
            except Exception:  # noqa: BLE001 - the entries stay buffered; the run's own flushes retry
                logger.warning("Could not write the log of %s yet", run_log.job_result_id, exc_info=True)
