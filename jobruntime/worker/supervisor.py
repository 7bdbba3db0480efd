"""``jobruntime worker``: a small supervisor over N long-lived worker processes.

Each worker process holds one broker connection (it consumes and publishes over
it) and its database pools for its whole life, and runs jobs one at a time in its
main thread. The supervisor replaces a process that dies, kills one whose run
passed its hard time limit (and records why), re-queues runs whose lease expired
elsewhere (the reaper), publishes outbox events a crashed process left
behind, and fires due schedules (``jobruntime.scheduling``). SIGTERM: every process finishes the job in hand, then exits.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import Any

import psycopg
import sqlalchemy.exc
from sqlalchemy import update

from jobruntime.bus.broker import Bus, Delivery
from jobruntime.bus.outbox import SWEEP_AGE, OutboxRelay, add_events
from jobruntime.bus.topology import CHANGES_QUEUE
from jobruntime.core.backoff import Backoff
from jobruntime.core.capabilities import Capabilities
from jobruntime.core.clock import utcnow
from jobruntime.core.settings import Settings
from jobruntime.models import JobResult
from jobruntime.run.events import result_event_row
from jobruntime.run.runtime import Runtime
from jobruntime.scheduling.loop import ScheduleFirer
from jobruntime.storage.uploads import UPLOAD_LIFETIME, UPLOADS, discard_request_uploads
from jobruntime.store.prebuilt import ConnectionLost, on_connection
from jobruntime.worker.batching import RunBatch
from jobruntime.worker.dead_letters import end_dead_lettered_run
from jobruntime.worker.handling import HandlerContext, Outcome
from jobruntime.worker.leases import renew_lease
from jobruntime.worker.middleware import RunMiddleware, WorkerResources, build_middleware, middleware_classes
from jobruntime.worker.reaper import reap_expired
from jobruntime.worker.timelimits import RunSlot, hard_limit_message

logger = logging.getLogger(__name__)
DATABASE_RETRY_FIRST_DELAY = 0.5  # seconds before handling a delivery again while the database is away
DATABASE_RETRY_MAX_DELAY = 10.0
UPLOAD_EXPIRY_INTERVAL = 600.0  # seconds between sweeps of uploads lost workers left in a file:// store
LOGGED_REASON_LENGTH = 500  # characters of an outcome's reason in the worker's log line
Handler = Callable[[bytes, HandlerContext], Outcome]


def load_handler(name: str = "run_job") -> Handler:
    """Handlers are registered as ``jobruntime.handlers`` entry points, so the library never imports them."""
    for entry in entry_points(group="jobruntime.handlers"):
        if entry.name == name:
            return entry.load()
    raise LookupError(f"No handler {name!r} is installed (entry point group jobruntime.handlers)")


class WorkerProcess:
    """Consumes run queues and hands each delivery to the handler; one per OS process (or thread, in memory mode)."""

    def __init__(
        self, settings: Settings, queues: Sequence[str], handler: Handler, *, slot: RunSlot | None = None
    ) -> None:
        self.settings = settings
        self.queues = list(queues)
        self.handler = handler
        # Object changes from other systems arrive on their own queue and have their own handler.
        self.handlers = {CHANGES_QUEUE: load_handler("job_hook")} if CHANGES_QUEUE in self.queues else {}
        self.slot = slot
        self._middleware = middleware_classes(settings.middleware)  # a bad name stops the caller, not each run
        self.middleware: list[RunMiddleware] = []
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
        self.ready = threading.Event()
        self.bus: Bus | None = None
        self.runtime: Runtime | None = None
        self.batch: RunBatch | None = None
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        """Consume until :meth:`stop` (or SIGTERM, in a worker process)."""
        self.runtime = Runtime.from_settings(self.settings, events=True)
        self.bus = Bus(self.settings)
        self.bus.connect()
        self.bus.declare_run_queues(self.queues)
        relay = OutboxRelay(self.runtime.engine, self.bus)
        self.runtime.on_commit = relay.publish_rows
        if self._batches():
            self.batch = RunBatch(self.runtime, Runtime.from_settings(self.settings, events=True, relaxed=True),
                                  relay.publish_rows, size=self.settings.batch_size, max_age=self.settings.batch_time)
        self.middleware = build_middleware(self._middleware, WorkerResources(self.settings, self.runtime, self.slot))
        self.ready.set()
        try:
            self.bus.consume(self.queues, self._on_delivery, prefetch=self.settings.prefetch,
                             on_idle=self.batch.close if self.batch is not None else None)
        finally:
            relay.close()
            self.bus.close()

    def _batches(self) -> bool:
        """Whether runs are decided in batches: asked for, with deliveries to batch (prefetch), and on a broker
        that acks many at once and a database whose commits can be made durable together."""
        settings = self.settings
        return (settings.batch_size > 1 and settings.prefetch > 1 and not self.bus.transport.in_process
                and Capabilities.of(self.runtime.engine).relaxed_commits)

    def start_in_thread(self) -> None:
        """Run on a background thread of this process (the embedded memory:// broker); returns once consuming."""
        self._thread = threading.Thread(target=self.run, name="embedded-worker", daemon=True)
        self._thread.start()
        self.ready.wait(10)

    def stop(self) -> None:
        """Stop consuming once the delivery in hand is done; waits for a thread started by start_in_thread.

        Waiting matters: an in-memory queue outlives this worker, and a stopping worker must
        not take the next run of the process.
        """
        if self.bus is not None:
            self.bus.stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(30)

    def _on_delivery(self, delivery: Delivery) -> None:
        acked = False
        ack_lock = threading.Lock()  # a run claimed late is acked from the thread that claimed it
        runtime = self.batch.runtime_for(delivery) if self.batch is not None else self.runtime

        def acknowledge() -> None:
            nonlocal acked
            with ack_lock:
                if not acked:
                    if self.batch is None or self.batch.close():  # the claim durable (with the batch) before its ack
                        delivery.ack()
                    else:  # it may be lost: a redelivery finds the run claimed if it is not
                        delivery.hand_back()
                    acked = True

        ctx = HandlerContext(
            runtime=runtime,
            worker_id=self.worker_id,
            queue=delivery.queue,
            acknowledge=acknowledge,
            dead_letter=lambda reason: self.bus.dead_letter(delivery.body, reason),
            publish=lambda key, body: self.bus.publish_event(key, body),
            middleware=self.middleware,
            delivery_count=delivery.delivery_count,
        )
        if self.batch is not None and runtime is self.batch.relaxed:
            ctx.read_admission = functools.partial(self.batch.read_ahead.read, waiting=delivery.behind)
            ctx.defer_decision = self.batch.defer
        backoff = Backoff(DATABASE_RETRY_FIRST_DELAY, DATABASE_RETRY_MAX_DELAY)
        while True:
            try:
                outcome = self.handlers.get(delivery.queue, self.handler)(delivery.body, ctx)
                break
            except Exception as exc:
                if not acked and _database_unreachable(exc) and not self.bus.stopping:
                    # Not the message's fault: handing it back would spend its delivery limit in
                    # milliseconds and dead-letter a good request. Hold it and try again.
                    delay = backoff.next()
                    logger.warning("Database unreachable (%s); handling the delivery again in %.1f s", exc, delay)
                    time.sleep(delay)
                    continue
                if not acked:
                    raise  # the bus puts the message back: nothing was claimed
                logger.exception("Run failed after it was claimed; its lease will expire and the reaper takes over")
                return
            return
        if self.batch is not None:
            self.batch.handled(delivery, runtime)
        reason = f": {outcome.reason[:LOGGED_REASON_LENGTH]}" if outcome.reason else ""  # it may echo a huge request
        logger.info("%s %s%s", outcome.status, outcome.job_result_id, reason)


def _database_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database could not be reached (through SQLAlchemy, on the driver's connection, or
    by a run that lost its connection before it was claimed)."""
    return isinstance(exc, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
                            psycopg.OperationalError, psycopg.InterfaceError, ConnectionLost))


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its supervisor dies, so no orphan keeps consuming."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _child_main(settings: Settings, queues: Sequence[str], slot: RunSlot) -> None:
    _die_with_parent()
    worker = WorkerProcess(settings, queues, load_handler(), slot=slot)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    worker.run()
    os._exit(0)  # done: a thread a job left running must not keep the process (and SIGTERM) waiting


class Supervisor:
    """Keeps ``concurrency`` worker processes alive and enforces what they cannot enforce themselves."""

    def __init__(self, settings: Settings, queues: Sequence[str], concurrency: int = 1) -> None:
        self.settings = settings
        self.queues = list(queues)
        self.concurrency = concurrency
        self.children: list[tuple[multiprocessing.Process, RunSlot]] = []
        self._stopping = threading.Event()
        self._context = multiprocessing.get_context("fork")
        self._unrecorded: list[tuple[Any, float]] = []  # runs killed at their hard limit, not yet recorded
        self._last_renewal = 0.0
        self._last_upload_expiry = 0.0

    def _spawn(self, slot: RunSlot | None = None) -> tuple[multiprocessing.Process, RunSlot]:
        slot = slot or RunSlot()
        process = self._context.Process(target=_child_main, args=(self.settings, self.queues, slot), daemon=False)
        process.start()
        return process, slot

    def stop(self, *_args: Any) -> None:
        self._stopping.set()

    def run(self) -> int:
        runtime = Runtime.from_settings(self.settings, events=True)
        bus = Bus(self.settings)  # a bad setting stops the command before any process starts
        middleware_classes(self.settings.middleware)
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        self.children = [self._spawn() for _ in range(self.concurrency)]
        bus.connect()  # after forking: a worker process must not inherit this connection's socket
        bus.declare_run_queues(self.queues)  # the dead-letter queues its sweep reads exist before the children's
        relay = OutboxRelay(runtime.engine, bus)
        schedules = ScheduleFirer(runtime.engine, relay, default_queue=self.settings.default_queue,
                                  interval=self.settings.schedule_interval)
        last_sweep = 0.0
        try:
            while not self._stopping.wait(0.2):
                self._watch_children(runtime, relay)
                self._renew_leases(runtime)
                schedules.tick()
                if time.monotonic() - last_sweep >= min(self.settings.lease_seconds / 2, 5):
                    last_sweep = time.monotonic()
                    self._sweep(runtime, bus, relay)
        finally:
            self._shutdown(runtime, relay)
            relay.close()
            bus.close()
        return 0

    def _watch_children(self, runtime: Runtime, relay: OutboxRelay) -> None:
        for index, (process, slot) in enumerate(self.children):
            overdue = slot.overdue()
            if overdue is not None and process.is_alive():
                job_result_id, limit = overdue
                logger.error("Run %s passed its hard time limit (%s s); killing pid %s", job_result_id, limit,
                             process.pid)
                process.kill()
                process.join()
                self._unrecorded.append((job_result_id, limit))
            if not process.is_alive():
                if overdue is None:
                    logger.warning("Worker process %s exited (%s); starting another", process.pid, process.exitcode)
                slot.clear()
                self.children[index] = self._spawn(slot)
        self._record_hard_limits(runtime, relay)

    def _renew_leases(self, runtime: Runtime) -> None:
        """Keep the leases of the runs the children hold, as often as their own renewers do.

        A child stuck in C code holding the GIL cannot renew its lease; it is not lost
        (its hard time limit still applies), so its run must not be handed to another worker.
        """
        if time.monotonic() - self._last_renewal < self.settings.lease_seconds / 3:
            return
        self._last_renewal = time.monotonic()
        for process, slot in self.children:
            running = slot.running()
            if running is None or not process.is_alive():
                continue
            try:
                renew_lease(runtime.autocommit_engine, *running, self.settings.lease_seconds)
            except Exception:  # noqa: BLE001 - retried at the next renewal; the lease has slack
                logger.warning("Could not renew the lease of %s", running[0], exc_info=True)

    def _record_hard_limits(self, runtime: Runtime, relay: OutboxRelay) -> None:
        """Record the runs killed at their hard limit; while the database is away, keep them for the next pass."""
        while self._unrecorded:
            job_result_id, limit = self._unrecorded[0]
            try:
                relay.publish_rows(self._record_hard_limit(runtime, job_result_id, limit))
            except Exception:  # noqa: BLE001 - the supervisor outlives database or broker hiccups
                logger.warning("Could not record run %s's hard time limit yet; retrying", job_result_id, exc_info=True)
                return
            self._unrecorded.pop(0)

    @staticmethod
    def _record_hard_limit(runtime: Runtime, job_result_id: Any, limit: float) -> list[dict[str, Any]]:
        """The killed run ends ``errored`` with the reason; its uncommitted changes died with the process.

        A run killed in ``post_run()`` has its verdict committed already; post_run failing makes it errored.
        """
        values = {"status": "errored", "reason": hard_limit_message(limit), "completed": utcnow(),
                  "lease_expires": None}
        table = JobResult.__table__
        with runtime.engine.begin() as connection:
            row = connection.execute(
                update(table).where(table.c.id == job_result_id, table.c.status != "errored")
                .values(**values).returning(*table.c)
            ).first()
            events = add_events(on_connection(connection), [result_event_row(row._asdict())]) if row is not None else []
        return events

    def _sweep(self, runtime: Runtime, bus: Bus, relay: OutboxRelay) -> None:
        try:
            reaped = reap_expired(runtime.engine, max_attempts=self.settings.max_attempts,
                                  result_event=result_event_row, default_queue=self.settings.default_queue)
            for item in reaped:
                logger.warning("Run %s lost its worker: %s", item.job_result_id,
                               "re-queued" if item.requeued else item.reason)
            relay.publish_rows([event for item in reaped for event in item.events])
            bus.drain_dead_letters(lambda body, headers: self._dead_lettered(runtime, relay, body, headers))
            relay.publish_pending(older_than=SWEEP_AGE)
            if time.monotonic() - self._last_upload_expiry >= UPLOAD_EXPIRY_INTERVAL:
                self._last_upload_expiry = time.monotonic()
                runtime.store.expire(f"{UPLOADS}/", UPLOAD_LIFETIME)
        except Exception:  # noqa: BLE001 - the supervisor outlives database or broker hiccups
            logger.exception("Maintenance sweep failed; retrying at the next one")

    def _dead_lettered(self, runtime: Runtime, relay: OutboxRelay, body: bytes, headers: dict[str, Any]) -> None:
        """A request the broker gave up on ends its run errored (see ``dead_letters``); its uploads go with it.

        Uploads are removed only with a run this sweep ended: a dead letter that proves
        nothing must not be a way to delete another run's files.
        """
        ended = end_dead_lettered_run(runtime.engine, body, headers, signing_secret=self.settings.signing_secret,
                                      result_event=result_event_row)
        relay.publish_rows(ended)
        if ended:
            discard_request_uploads(runtime.store, body)

    def _shutdown(self, runtime: Runtime, relay: OutboxRelay) -> None:
        """Let every process finish its job in hand, still enforcing hard time limits meanwhile."""
        for process, _slot in self.children:
            if process.is_alive():
                os.kill(process.pid, signal.SIGTERM)
        while any(process.is_alive() for process, _slot in self.children):
            self._renew_leases(runtime)
            for process, slot in self.children:
                overdue = slot.overdue()
                if overdue is not None and process.is_alive():
                    logger.error("Run %s passed its hard time limit (%s s) while stopping; killing pid %s",
                                 overdue[0], overdue[1], process.pid)
                    process.kill()
                    self._unrecorded.append(overdue)
                process.join(0.2)
        self._record_hard_limits(runtime, relay)
