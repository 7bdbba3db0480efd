"""The message bus: publish run requests and events, consume task queues, follow events live.

A ``Bus`` keeps one broker connection for publishing, shared by every thread
of the process behind a lock (an AMQP connection is not thread-safe).
``consume()`` holds one long-lived connection, which must answer heartbeats while
a job runs; while it consumes, the Bus's publishes travel over that same
connection (on a channel of their own, handed to the consume loop's thread), so a
worker process holds a single broker connection. ``subscribe()`` opens its own:
a subscription's exclusive queue lives exactly as long as its connection.
Nothing opens a connection per message.

Every publish is confirmed and at-least-once: one retried after a lost
connection may arrive twice, so consumers de-duplicate (``job_result_id``,
``message_id``).

On ``memory://`` (kombu's in-process transport, for the embedded single
process) the broker features kombu lacks are emulated (``MemoryTransport`` in
``jobruntime.bus.transport``, with ``jobruntime.bus.memory``):

* mandatory routing: ``publish_run`` checks that the queue exists and raises
  ``QueueNotFound``; the ``NoWorkers`` check is skipped, because the embedded
  worker may start consuming after the first publish;
* consumer counts: ``queue_consumers`` counts this process's consume loops;
* dead-lettering and the quorum delivery limit: ``reject(requeue=False)``
  re-publishes the message to ``jobruntime.dead`` with ``x-first-death-reason:
  rejected``; ``reject(requeue=True)`` re-publishes it with ``x-delivery-count``
  raised by one, or dead-letters it (``delivery_limit``) once the count has
  reached ``max_attempts`` (quorum settings), as RabbitMQ does;
* exclusive queues: ``Subscription.close()`` removes its queue and bindings.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple, TypeVar
from uuid import uuid4

from kombu import Connection, Consumer
from kombu.message import Message

from jobruntime.bus import consumer
from jobruntime.bus.consumer import AlreadySettled, Delivery
from jobruntime.bus.credentials import strip_credentials
from jobruntime.bus.topology import (
    DEAD_EXCHANGE,
    DEAD_RUNS_QUEUE,
    EVENTS_EXCHANGE,
    REASON_HEADER,
    REASON_HEADER_LIMIT,
    RUN_EXCHANGE,
    bytes_channel,
    declare_topology,
    presence_queue,
    publish_message,
    publish_messages,
    subscription_queue,
)
from jobruntime.bus.transport import Transport
from jobruntime.core.backoff import Backoff
from jobruntime.core.errors import BrokerError
from jobruntime.core.limits import oversized_request
from jobruntime.core.settings import InvalidSetting, Settings

__all__ = [
    "AlreadySettled",
    "BrokerUnavailable",
    "Bus",
    "Delivery",
    "NoWorkers",
    "PublishRefused",
    "QueueNotFound",
    "RequestTooLarge",
    "Subscription",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

PUBLISH_RETRY_FIRST_DELAY = 0.1  # seconds before the second publish retry (the first is immediate), doubling up to:
PUBLISH_RETRY_MAX_DELAY = 1.0
SUBSCRIPTION_TICK = 0.5  # longest wait between heartbeat checks while following events


class PublishRefused(BrokerError, RuntimeError):
    """The broker cannot take a run request; nothing was queued."""

    def __init__(self, queue: str, message: str) -> None:
        self.queue = queue
        super().__init__(message)


class QueueNotFound(PublishRefused):
    """No task queue of that name exists, so the request would be dropped."""

    def __init__(self, queue: str) -> None:
        super().__init__(
            queue,
            f'No task queue "{queue}" exists on the broker; start a worker for it '
            f"(jobruntime worker -Q {queue}) or choose another queue",
        )


class NoWorkers(PublishRefused):
    """The queue exists but no worker consumes it (checked only when ``check_consumers`` is on)."""

    def __init__(self, queue: str) -> None:
        super().__init__(queue, f"Unable to process request: No workers running on queue {queue}.")


class RequestTooLarge(PublishRefused):
    """The request is larger than workers take (``max_request_bytes``): they would only dead-letter it."""

    def __init__(self, queue: str, size: int, limit: int) -> None:
        super().__init__(queue, oversized_request(size, limit))


class BrokerUnavailable(BrokerError, RuntimeError):
    """The broker could not be reached (within the retry budget, for publishes)."""

    def __init__(self, uri: str, cause: BaseException, seconds: float | None = None) -> None:
        self.uri = uri
        waited = f"gave up after {seconds:.1f} s: " if seconds is not None else ""
        super().__init__(
            f"Cannot reach the message broker at {uri} ({waited}{type(cause).__name__}: {cause}); "
            "check that RabbitMQ is running and that JOBRUNTIME_BROKER_URL points at it"
        )


class Bus:
    """The process's access to the broker; build one per process and share it between threads."""

    def __init__(self, settings: Settings, *, retry_seconds: float = 5.0, heartbeat: float = 30.0) -> None:
        """``retry_seconds`` bounds how long a call keeps retrying an unreachable broker.

        ``heartbeat`` (seconds) lets both sides notice a dead peer behind a
        silent network instead of waiting on a half-open TCP connection.
        """
        self.settings = settings
        self.transport = Transport.for_url(settings.broker_url)
        self._retry_seconds = retry_seconds
        self._heartbeat = heartbeat
        self._lock = threading.RLock()
        self._connection: Connection | None = None
        self._channel: Any = None
        self._returned: list[str] = []
        self._stopping = False
        self._runner: Callable[[Callable[[Any], Any]], Any] | None = None
        try:
            template = Connection(settings.broker_url)
        except KeyError as exc:  # the URL's scheme names no kombu transport
            raise InvalidSetting("broker_url", f"{exc.args[0]} (use amqp://... or memory://)") from None
        self.uri = template.as_uri()  # password masked, for messages
        self.connection_errors: tuple[type[BaseException], ...] = (
            *template.connection_errors,
            *template.recoverable_connection_errors,
            OSError,
        )
        self._channel_errors = template.channel_errors

    def open_connection(self) -> Connection:
        """A new connection with jobruntime's options (confirms, heartbeat), connected once.

        Raises one of ``connection_errors`` at once if the broker is down; the
        caller owns the retry policy (kombu's own would sleep 2 s first).
        """
        connection = self.transport.open(self.settings.broker_url, heartbeat=self._heartbeat,
                                         connect_timeout=min(self._retry_seconds, 5.0))
        return connection.ensure_connection(max_retries=0, reraise_as_library_errors=False)

    def connect(self) -> Bus:
        """Connect and declare the exchanges now rather than on first use; raises ``BrokerUnavailable``."""
        self._retrying(lambda channel: None)
        return self

    def close(self) -> None:
        """Close the publishing connection; a later call reconnects."""
        with self._lock:
            if self._connection is not None:
                try:
                    self._connection.release()
                except self.connection_errors:
                    log.debug("The broker connection was already gone when closing it")
            self._connection = self._channel = None

    def __enter__(self) -> Bus:
        return self.connect()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def declare_run_queues(self, names: Iterable[str]) -> None:
        """Declare the task queues ``names`` with the exchanges and dead-letter queue (idempotent).

        Raises ``TopologyMismatch`` when a queue exists with other arguments.
        """
        names = list(names)
        self._retrying(lambda channel: declare_topology(channel, self.settings, names))

    def publish_run(self, body: bytes, queue: str, *, message_id: str) -> None:
        """Queue a run request durably; returns once the broker has confirmed it.

        Raises ``QueueNotFound`` when no queue ``queue`` exists, ``NoWorkers``
        when ``check_consumers`` is on and nobody consumes it (never on
        memory://), ``BrokerUnavailable`` when the broker stays unreachable.
        """

        check_queue, check_workers = self.transport.checks_before_publish(self.settings)

        def publish(channel: Any) -> None:
            if check_queue and self._consumer_count(channel, queue) is None:
                raise QueueNotFound(queue)
            if check_workers and not self._consumer_count(channel, presence_queue(queue).name):
                raise NoWorkers(queue)
            self._returned.clear()
            publish_message(channel, body, RUN_EXCHANGE, queue, mandatory=True, message_id=message_id)
            if queue in self._returned:
                raise QueueNotFound(queue)

        self._retrying(publish)

    def publish_event(self, routing_key: str, body: bytes | dict[str, Any], *, message_id: str | None = None) -> None:
        """Publish an event (``job.result.<status>``, ``job.log.<level>``, ...); nobody listening drops it."""
        payload = json.dumps(body).encode() if isinstance(body, dict) else body
        self._retrying(
            lambda channel: publish_message(channel, payload, EVENTS_EXCHANGE, routing_key, message_id=message_id)
        )

    def publish_events(self, events: Sequence[tuple[str, dict[str, Any], str | None]]) -> None:
        """Publish several events (routing key, body, message id) with one wait for the broker's confirms.

        At-least-once as ``publish_event``: after a lost connection the whole batch is published again.
        """
        messages = [(json.dumps(body).encode(), EVENTS_EXCHANGE, key, message_id) for key, body, message_id in events]
        if messages:
            self._retrying(lambda channel: publish_messages(channel, messages))

    def dead_letter(self, body: bytes, reason: str, *, headers: dict[str, Any] | None = None) -> None:
        """Park a message that can never be processed in ``jobruntime.dead-letter``, saying why.

        The body loses its ``token`` and ``signature`` (a short hash of each stays): whoever
        reads dead letters must not be handed credentials. The reason is cut to
        ``REASON_HEADER_LIMIT`` characters: it may echo the message, and RabbitMQ closes the
        connection over a header frame larger than its frame size.
        """
        if len(reason) > REASON_HEADER_LIMIT:
            reason = reason[: REASON_HEADER_LIMIT - 1] + "…"
        all_headers = {**(headers or {}), REASON_HEADER: reason}
        kept = strip_credentials(body)
        self._retrying(lambda channel: publish_message(channel, kept, DEAD_EXCHANGE, "", headers=all_headers))

    def drain_dead_letters(self, handle: Callable[[bytes, dict[str, Any]], None], *, limit: int = 100) -> int:
        """Pass up to ``limit`` messages of the supervisors' dead-letter copy to ``handle(body, headers)``.

        Each is acknowledged once handled; one whose handling raises goes back to the
        queue for the next call, and the error propagates. Returns how many were handled.
        """

        def drain(channel: Any) -> tuple[int, Exception | None]:
            handled = 0
            while handled < limit and (message := channel.basic_get(queue=DEAD_RUNS_QUEUE, no_ack=False)):
                body = message.body if isinstance(message.body, bytes) else message.body.encode()  # auto-decoded
                try:
                    handle(body, dict(message.headers or {}))
                except Exception as exc:  # the handler's failure, not the broker's: no reconnect and retry
                    channel.basic_reject(message.delivery_tag, requeue=True)
                    return handled, exc
                channel.basic_ack(message.delivery_tag)
                handled += 1
            return handled, None

        handled, failure = self._retrying(drain)
        if failure is not None:
            raise failure
        return handled

    def queue_workers(self, queue: str) -> int:
        """How many workers serve ``queue``, busy or not."""
        return self.transport.workers(
            queue, lambda name: self._retrying(lambda channel: self._consumer_count(channel, name))
        )

    def queue_consumers(self, queue: str) -> int | None:
        """How many consumers ``queue`` has, or None when it does not exist."""
        return self._retrying(lambda channel: self._consumer_count(channel, queue))

    def consume(
        self, queues: Sequence[str], handler: Callable[[Delivery], None], *, prefetch: int,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        """Run ``handler`` on each message of ``queues`` in this thread until ``stop()`` is called.

        Declares the queues first and survives broker restarts (reconnecting
        with backoff from 0.5 s to 10 s). At most ``prefetch`` messages are
        held unacknowledged; see ``Delivery`` for how a handler settles one.
        ``on_idle()`` runs whenever no message waits, and before ``consume()`` returns.
        """
        try:
            consumer.consume(self, queues, handler, prefetch, on_idle)
        finally:
            self._stopping = False

    def stop(self) -> None:
        """Make ``consume()`` return once the handler in progress is done; safe to call from a signal handler.

        Called while no ``consume()`` runs, it makes the next one return at once
        (a SIGTERM during start-up still stops the worker).
        """
        self._stopping = True

    @property
    def stopping(self) -> bool:
        """True from ``stop()`` until ``consume()`` has returned."""
        return self._stopping

    def subscribe(self, patterns: Sequence[str]) -> Subscription:
        """Start receiving events whose routing keys match ``patterns`` (``*`` = one word, ``#`` = any)."""
        return Subscription(self, patterns)

    @property
    def retry_seconds(self) -> float:
        """How long a call keeps retrying an unreachable broker."""
        return self._retry_seconds

    def route_through(self, runner: Callable[[Callable[[Any], Any]], Any] | None) -> None:
        """Send publishes to ``runner`` (a consume loop owning a connection) instead of a connection of their own.

        ``runner(action)`` runs ``action(channel)`` on the consume loop's publishing
        channel and returns its result. The Bus's own connection is closed meanwhile;
        ``route_through(None)`` goes back to it.
        """
        with self._lock:
            self._runner = runner
        if runner is not None:
            self.close()

    def on_return(self, exc: Exception, exchange: str, routing_key: str, message: Any) -> None:
        """Collect unroutable mandatory publishes (RabbitMQ returns them before confirming)."""
        self._returned.append(routing_key)

    def _retrying(self, action: Callable[[Any], T]) -> T:
        """Run ``action`` on the publishing channel, reconnecting with backoff for up to ``retry_seconds``.

        The first retry is immediate: the usual failure is a connection the
        broker dropped while it sat idle. While a consume loop lends its
        connection (``route_through``), the action runs there instead.
        """
        runner = self._runner
        if runner is not None:
            try:
                return runner(action)
            except TimeoutError as exc:
                raise BrokerUnavailable(self.uri, exc, self._retry_seconds) from exc
            except ConnectionError:
                pass  # the consume loop stopped meanwhile: publish over a connection of our own
        deadline = time.monotonic() + self._retry_seconds
        backoff = Backoff(PUBLISH_RETRY_FIRST_DELAY, PUBLISH_RETRY_MAX_DELAY, immediate=True)
        while True:
            with self._lock:
                try:
                    return action(self._ensure_channel())
                except self.connection_errors as exc:
                    self._drop_connection()
                    error = exc
            delay = backoff.next()
            if time.monotonic() + delay > deadline:
                raise BrokerUnavailable(self.uri, error, self._retry_seconds) from error
            log.info("Broker connection failed (%s); retrying in %.1f s", error, delay)
            time.sleep(delay)

    def _ensure_channel(self) -> Any:
        if self._channel is not None:
            try:
                self._connection.heartbeat_check()
                return self._channel
            except self.connection_errors:  # idle past the heartbeat timeout: the broker has dropped it
                self._drop_connection()
        connection = self.open_connection()
        try:
            channel = connection.channel()
            self.transport.watch_returns(channel, self.on_return)
            declare_topology(channel, self.settings)
        except BaseException:
            connection.collect()
            raise
        self._connection, self._channel = connection, channel
        return channel

    def _drop_connection(self) -> None:
        if self._connection is not None:
            self._connection.collect()
        self._connection = self._channel = None

    def _consumer_count(self, channel: Any, queue: str) -> int | None:
        try:
            declared = channel.queue_declare(queue=queue, passive=True)
        except self._channel_errors as exc:
            if getattr(exc, "reply_code", None) == 404 or "NOT_FOUND" in str(exc):
                return None
            raise
        return self.transport.consumer_count(queue, declared.consumer_count)


class ReceivedEvent(NamedTuple):
    """An event as a subscription received it; ``message_id`` is None for events published without one."""

    routing_key: str
    body: bytes
    message_id: str | None


class Subscription:
    """A live feed of events matching some patterns; create it with ``Bus.subscribe()``.

    Subscribe before publishing the run you want to follow: events published
    before the subscription exists are not kept for it.
    """

    def __init__(self, bus: Bus, patterns: Sequence[str]) -> None:
        self._bus = bus
        try:
            self._connection = bus.open_connection()
            channel = bytes_channel(self._connection)
            declare_topology(channel, bus.settings)
            self._queue = subscription_queue(f"jobruntime.subscription.{uuid4().hex}", patterns)(channel)
            self._queue.declare()
            self._received: deque[Message] = deque()
            Consumer(channel, [self._queue], on_message=self._received.append, no_ack=True).consume()
        except bus.connection_errors as exc:
            raise BrokerUnavailable(bus.uri, exc) from exc

    def get(self, timeout: float) -> tuple[str, bytes] | None:
        """The next event as (routing key, body), or None if none arrives within ``timeout`` seconds."""
        event = self.receive(timeout)
        return None if event is None else (event.routing_key, event.body)

    def receive(self, timeout: float) -> ReceivedEvent | None:
        """The next event with its ``message_id``, or None if none arrives within ``timeout`` seconds.

        Events arrive at least once: one published again (after a crash) carries the
        ``message_id`` of its first publication, the key to skip it on.
        Raises ``BrokerUnavailable`` when the connection drops: events published
        meanwhile are lost to this subscription, so re-read the run's state.
        """
        deadline = time.monotonic() + timeout
        while not self._received:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                try:
                    self._connection.drain_events(timeout=min(remaining, SUBSCRIPTION_TICK))
                except socket.timeout:
                    pass
                self._connection.heartbeat_check()
            except self._bus.connection_errors as exc:
                raise BrokerUnavailable(self._bus.uri, exc) from exc
        message = self._received.popleft()
        return ReceivedEvent(message.delivery_info["routing_key"], message.body, message.properties.get("message_id"))

    def close(self) -> None:
        """Stop receiving; the broker deletes the exclusive queue along with the connection."""
        self._bus.transport.forget_queue(self._queue)
        try:
            self._connection.release()
        except self._bus.connection_errors:
            log.debug("The subscription's broker connection was already gone when closing it")

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
