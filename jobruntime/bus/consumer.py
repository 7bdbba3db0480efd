"""The consume loop behind ``Bus.consume()``: deliveries in, handler runs, acks out, across broker restarts.

Handlers run in the thread that called ``consume()`` (a worker's main thread,
where POSIX signals can interrupt a job at its soft time limit). The broker
connection belongs to a background *pump* thread instead: a py-amqp connection
is not thread-safe, and it must keep answering heartbeats while a job runs for
minutes. The pump drains deliveries into a queue, performs the acks and
rejects the handler thread asks for (woken at once through a pipe, so an ack
costs no polling delay), and on a lost connection reconnects with backoff
(0.5 s doubling to 10 s), re-declares and resumes.

A busy worker must not hold the next message unacked (RabbitMQ's consumer timeout
would close the channel under a long job, and another worker may be idle), so the
pump stops consuming behind a long run. With a prefetch of 1 it stops when the
handler acks while it goes on working (a run claimed because it lasts), before
sending that ack. With a prefetch above 1 it stops once the run in hand has lasted
its claim window, before any ack of that wake-up, and hands back the run requests
received behind it: each is published again (confirmed) and the original acked,
since a reject would count as a delivery toward a quorum queue's limit. A short run
never stops it, even one claimed and acked as it starts (a scheduled or re-queued
run): a quorum queue returns what was on its way to a cancelled consumer as a
counted delivery, and the returned message goes to the head of the queue, so
cancelling for every run of a backlog bounces the same messages between workers
until the broker dead-letters them. It consumes again when the handler returns,
under a new consumer tag (RabbitMQ 3.10 fails a quorum queue's channel that
consumes again under the tag of a cancelled consumer whose deliveries are still
unacked). A handler may also keep deliveries unsettled past its return and settle
them later with one ``ack(multiple=True)`` (a batch of runs); such an ack does not
stop the consumer. A delivery the handler leaves unsettled is acked after it
returns, with no pause: the broker's next delivery then follows the ack at once.
Cancel and consume are sent without waiting for the broker's reply: the broker
handles a channel's methods in order, so nothing arrives after the cancel.
A delivery received on a connection that has since died cannot be
settled any more; the broker redelivers it, which handlers tolerate because
claims are idempotent.

While it consumes from RabbitMQ, the pump also makes the process's publishes
(``Bus.route_through``): other threads hand it the publish and wait, and it
performs it on a second channel of the same connection, so a worker process holds
one connection. A publish asked for while the connection is down waits for the
reconnection (up to the Bus's ``retry_seconds``).

On ``memory://`` the pump also emulates what kombu's in-process transport
lacks (``jobruntime.bus.memory``): dead-lettering through ``jobruntime.dead``,
the quorum delivery limit, and a per-process consumer count.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from queue import Empty, Queue, SimpleQueue
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import uuid4

from kombu import Connection, Consumer
from kombu.message import Message

from jobruntime.bus.topology import (
    RUN_EXCHANGE,
    bytes_channel,
    declare_topology,
    delivery_count,
    handed_back_headers,
    publish_message,
)
from jobruntime.core.backoff import Backoff
from jobruntime.core.errors import BrokerError

if TYPE_CHECKING:
    from jobruntime.bus.broker import Bus

log = logging.getLogger(__name__)
T = TypeVar("T")

RECONNECT_FIRST_DELAY = 0.5  # seconds; doubles after every failed attempt
RECONNECT_MAX_DELAY = 10.0
BUSY_TICK = 0.02  # memory:// only: the pump's longest wait while a delivery is unsettled
IDLE_TICK = 0.5  # its longest wait otherwise (adds to stop() latency)

class AlreadySettled(BrokerError, RuntimeError):
    """A delivery was acked or rejected twice (RabbitMQ would close the channel over it)."""

    def __init__(self, queue: str) -> None:
        super().__init__(f"This message from queue {queue} was already acked or rejected; settle a delivery once")


@dataclass(eq=False)
class Delivery:
    """One message handed to a ``consume()`` handler.

    ``delivery_count`` is the number of earlier deliveries: RabbitMQ's
    ``x-delivery-count`` on quorum queues, otherwise 1 if redelivered else 0.
    Settle it once with ``ack()``, ``reject()`` or ``hand_back()``; a handler that returns
    without settling has its delivery acked, one that raises has it requeued.
    A handler that ``keep()``s it settles it later, with its own ``ack()`` or
    with ``ack(multiple=True)`` of a later delivery of the same loop.
    """

    body: bytes
    headers: dict[str, Any]
    queue: str
    redelivered: bool
    delivery_count: int
    _settle: Callable[[bool | None, bool, bool], None] = field(repr=False)
    _waiting: Callable[[], int] = field(repr=False, default=lambda: 0)
    _behind: Callable[[], list[bytes]] = field(repr=False, default=list)
    _message: Message | None = field(repr=False, default=None)
    settled: bool = field(default=False, init=False)
    kept: bool = field(default=False, init=False)

    def ack(self, *, multiple: bool = False) -> None:
        """Remove the message from its queue for good; ``multiple`` also every earlier delivery still kept.

        One ``multiple`` ack settles a whole batch of deliveries in one frame; it does not
        count as a claim's ack (the consume loop goes on receiving).
        """
        self._finish(None, multiple)

    def reject(self, requeue: bool) -> None:
        """Return the message to its queue (``requeue=True``) or dead-letter it through the queue's DLX."""
        self._finish(requeue, False)

    def hand_back(self) -> None:
        """Return the message to its queue without counting a delivery, for a fault that was not the message's.

        A run request goes back as a copy carrying its delivery count (a reject counts one on a
        quorum queue, toward its delivery limit, which is for crashes); any other message is
        requeued.
        """
        self._finish(True, False, hand_back=True)

    def keep(self) -> None:
        """Leave the delivery unsettled when the handler returns; the handler's owner settles it later."""
        self.kept = True

    def waiting(self) -> int:
        """How many deliveries this process has received and not yet handed to the handler."""
        return self._waiting()

    def behind(self) -> list[bytes]:
        """The bodies of those waiting deliveries, in order (a handler may read ahead for them)."""
        return self._behind()

    def _finish(self, requeue: bool | None, multiple: bool, *, hand_back: bool = False) -> None:
        if self.settled:
            raise AlreadySettled(self.queue)
        self.settled = True
        self._settle(requeue, multiple, hand_back)


def consume(
    bus: Bus, queues: Sequence[str], handler: Callable[[Delivery], None], prefetch: int,
    on_idle: Callable[[], None] | None = None,
) -> None:
    """Run ``handler`` on each delivery until ``bus.stop()``, letting the one in progress finish.

    ``on_idle()`` runs whenever no delivery is waiting, before the loop waits for one, and
    once more before it stops: the moment to settle deliveries the handler kept.
    """
    pump = _Pump(bus, list(queues), prefetch)
    pump.start()
    if bus.transport.shares_consumer_connection:
        bus.route_through(pump.run_action)
    try:
        while not bus.stopping:
            if pump.error is not None:
                raise pump.error
            try:
                generation, delivery = pump.deliveries.get_nowait()
            except Empty:
                if on_idle is not None:
                    on_idle()
                try:
                    generation, delivery = pump.deliveries.get(timeout=IDLE_TICK)
                except Empty:
                    continue
            if generation == pump.generation:
                pump.handling(True)
                try:
                    _handle(handler, delivery)
                finally:
                    pump.handling(False)
                if not (delivery.settled or delivery.kept):  # acked once idle: the pump need not stop receiving
                    delivery.ack()
        if on_idle is not None:
            on_idle()
    finally:
        bus.route_through(None)
        pump.stop()


def _handle(handler: Callable[[Delivery], None], delivery: Delivery) -> None:
    try:
        handler(delivery)
    except Exception:
        log.exception("Handler failed on a message from %s; returning it to the queue", delivery.queue)
        if not delivery.settled:
            delivery.reject(requeue=True)


@dataclass(eq=False)
class _Action:
    """A channel call (a publish) another thread asked the pump to make on its connection."""

    run: Callable[[Any], Any]
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None
    abandoned: bool = False


@dataclass
class _SettleRequest:
    message: Message | None  # None: the handler ended a run the pump paused for, see ``resume``
    queue: str
    generation: int
    requeue: bool | None
    done: threading.Event = field(default_factory=threading.Event)
    resume: bool = False  # resume receiving unless the handler is busy again
    multiple: bool = False
    hand_back: bool = False  # requeued as a copy spending no delivery, where it can be (``_Pump._hands_back``)


class _Pump(threading.Thread):
    """Owns the consumer connection: receives, settles, heartbeats and reconnects."""

    def __init__(self, bus: Bus, queues: list[str], prefetch: int) -> None:
        super().__init__(name="jobruntime-consumer", daemon=True)
        self.bus = bus
        self.queues = queues
        self.prefetch = prefetch
        self.deliveries: Queue[tuple[int, Delivery]] = Queue()  # a Queue, not a SimpleQueue: one may look behind
        self.requests: SimpleQueue[_SettleRequest | _Action] = SimpleQueue()
        self.unsettled: dict[Any, Message] = {}  # by delivery tag
        self.generation = 0
        self.error: BaseException | None = None
        self.channel: Any = None
        self.connection: Connection | None = None
        self.publish_channel: Any = None
        self._waiting: list[_Action] = []  # actions not made yet, in the order asked (made after settles)
        self.consumer_tags = {name: self.consumer_tag(name) for name in queues}
        self.consumers: list[Consumer] = []
        self._halt = False
        self._backoff = Backoff(RECONNECT_FIRST_DELAY, RECONNECT_MAX_DELAY)
        self._busy = False
        self._busy_since = 0.0  # when the handler started the delivery in hand (monotonic)
        self._paused = False
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        self._stopped = False
        self._stop_lock = threading.Lock()  # no request slips in while stop() closes the wake-up pipe

    @staticmethod
    def consumer_tag(queue: str) -> str:
        """A new consumer tag for ``queue``, naming this process."""
        return f"jobruntime.{os.getpid()}.{uuid4().hex[:8]}.{queue}"

    def request(self, request: _SettleRequest | _Action) -> None:
        """Queue work for the pump and wake it; raises ConnectionError once the pump has stopped."""
        with self._stop_lock:
            if self._stopped:
                raise ConnectionError("the consume loop has stopped")
            self.requests.put(request)
            os.write(self._wake_write, b"!")

    def run_action(self, action: Callable[[Any], T]) -> T:
        """Run ``action(channel)`` on this connection's publishing channel and return its result.

        Callable from any thread. Raises TimeoutError when no connection comes back
        within the Bus's ``retry_seconds``, ConnectionError when the pump stopped first.
        """
        if threading.current_thread() is self:
            return action(self._publishing_channel())
        request = _Action(action)
        self.request(request)
        if not request.done.wait(self.bus.retry_seconds):
            request.abandoned = True
            raise TimeoutError(f"no broker connection for {self.bus.retry_seconds:.1f} s")
        if request.error is not None:
            raise request.error
        return request.result

    def handling(self, busy: bool) -> None:
        """The handler thread started (True) or finished (False) a delivery.

        Told through two fields the pump reads when it wakes (for an ack, or when the run
        becomes long), not by a request: a run costs the pump no wake-up. Only the end of a
        run it paused for wakes it, to resume; the pump checks ``_busy`` again after pausing,
        so one of them always sees the other's change.
        """
        if busy:
            self._busy_since = time.monotonic()
            self._busy = True
        else:
            self._busy = False
            if self._paused:
                self.request(_SettleRequest(None, "", self.generation, None, resume=True))

    def stop(self) -> None:
        """Return undispatched messages to the broker, close the connection and wait for this thread."""
        self._halt = True
        os.write(self._wake_write, b"!")
        self.join()
        with self._stop_lock:
            self._stopped = True
            os.close(self._wake_read)
            os.close(self._wake_write)
        self._fail_actions(ConnectionError("the consume loop stopped before this publish could be made"))

    def run(self) -> None:
        while not self._halt:
            connection: Connection | None = None
            try:
                connection = self.bus.open_connection()
                self._serve(connection)
            except self.bus.connection_errors as exc:
                self._lose(connection)
                delay = self._backoff.next()
                log.warning(
                    "No broker connection for consuming %s (%s); reconnecting in %.1f s",
                    ", ".join(self.queues), exc, delay,
                )
                self._wait(delay)
            except BaseException as exc:  # handed to the consume() thread, which raises it
                self._lose(connection)
                self.error = exc
                self._wait(float("inf"))

    def _serve(self, connection: Connection) -> None:
        channel = bytes_channel(connection)
        declare_topology(channel, self.bus.settings, self.queues)
        channel.basic_qos(0, self.prefetch, False)
        self.channel, self.connection = channel, connection
        self.bus.transport.start_consuming(self, channel)
        self._paused = True
        self._pause(False, confirmed=True)
        if self.bus.transport.shares_consumer_connection:
            self.publish_channel = self._open_publishing_channel()
            self._perform_waiting()
        if self._backoff.failures:
            log.warning("Reconnected to the broker; consuming %s again", ", ".join(self.queues))
        self._backoff.reset()
        with self.bus.transport.serving(self.queues):
            while not self._halt:
                if self._behind_a_long_run():  # before this wake-up's acks, so they free no credit for new deliveries
                    self._pause_for_the_run()
                    if self._paused:
                        self._hand_back_waiting()
                self._settle_requests()
                self._drain(connection)
                connection.heartbeat_check()
            self._pause(True)
            self._settle_requests()
            self._hand_back_waiting()  # a stop is no crash: what was never handled spends no delivery
            self._requeue_unsettled()
        connection.release()

    def _drain(self, connection: Connection) -> None:
        """Receive what the broker sent, waiting until it sends something or a request wakes the pump."""
        sock = getattr(connection.connection, "sock", None)
        if sock is None:  # memory:// has no socket to wait on
            try:
                connection.drain_events(timeout=BUSY_TICK if self.unsettled else IDLE_TICK)
            except socket.timeout:
                pass
            return
        readable, _, _ = select.select([sock, self._wake_read], [], [], self._tick())
        if self._wake_read in readable:
            try:
                os.read(self._wake_read, 4096)
            except BlockingIOError:
                pass
        if sock in readable:
            try:
                while True:  # py-amqp may hold whole frames in its buffer that select cannot see
                    connection.drain_events(timeout=0)
            except socket.timeout:
                pass

    def _pause(self, paused: bool, *, confirmed: bool = False) -> None:
        """Stop (or resume) receiving while the handler works on a long run, so no message waits unacked behind it.

        On RabbitMQ the broker's replies are not awaited (it handles a channel's methods in
        order, so nothing is delivered after the cancel; what was on its way goes back to the
        queue, counted), except the first consume of a connection (``confirmed``), which
        reports a missing queue at once.
        """
        if paused == self._paused or self.channel is None:
            return
        self.bus.transport.pause(self, paused, confirmed)
        self._paused = paused

    def raw_receiver(self, queue: str) -> Callable[[Any], None]:
        """A py-amqp consumer callback that hands deliveries on as kombu messages."""
        receive, channel = self.receiver(queue), self.channel
        return lambda raw: receive(channel.message_to_python(raw))

    def _lose(self, connection: Connection | None) -> None:
        """Forget a dead connection; the broker requeues whatever it had not seen settled."""
        self.generation += 1
        self.unsettled.clear()
        self.channel = self.connection = self.publish_channel = None
        self.consumers, self._paused = [], False
        if connection is not None:
            connection.collect()

    def _wait(self, seconds: float) -> None:
        """Sleep between reconnects, still answering settle requests (as lost) so no handler blocks."""
        deadline = time.monotonic() + seconds
        while not self._halt and time.monotonic() < deadline:
            self._settle_requests(block_for=BUSY_TICK)
        self._settle_requests()

    def receiver(self, queue: str) -> Callable[[Message], None]:
        def receive(message: Message) -> None:
            self.unsettled[message.delivery_tag] = message
            self.deliveries.put((self.generation, self._delivery(queue, message)))

        return receive

    def _delivery(self, queue: str, message: Message) -> Delivery:
        headers = dict(message.headers or {})
        redelivered = bool(message.delivery_info.get("redelivered"))
        count = delivery_count(headers, redelivered)
        generation = self.generation

        def settle(requeue: bool | None, multiple: bool, hand_back: bool) -> None:
            """Acks return at once (the run is already claimed); rejects wait until the broker has them."""
            request = _SettleRequest(message, queue, generation, requeue, multiple=multiple, hand_back=hand_back)
            self.request(request)
            if requeue is not None:
                request.done.wait()

        return Delivery(message.body, headers, queue, redelivered or count > 0, count, settle, self.deliveries.qsize,
                        self._bodies_waiting, message)

    def _bodies_waiting(self) -> list[bytes]:
        with self.deliveries.mutex:
            return [delivery.body for generation, delivery in self.deliveries.queue if generation == self.generation]

    def _requeue_unsettled(self) -> None:
        """Return what is left unsettled when the loop stops (a handler interrupted, a message that cannot go back
        as a copy) right away."""
        for message in self.unsettled.values():
            message.reject(requeue=True)
        self.unsettled.clear()

    def _settle_requests(self, block_for: float = 0) -> None:
        try:
            request = self.requests.get(timeout=block_for) if block_for else self.requests.get_nowait()
            while True:
                if isinstance(request, _Action):
                    self._waiting.append(request)
                else:
                    self._settle_one(request)
                request = self.requests.get_nowait()
        except Empty:
            pass
        self._perform_waiting()

    def _settle_one(self, request: _SettleRequest) -> None:
        try:
            if request.resume:
                if not self._busy:
                    self._pause(False)
            elif request.generation != self.generation:
                log.warning(
                    "A message from %s was not settled before its connection was lost; "
                    "the broker delivers it again", request.queue,
                )
            else:
                tag = request.message.delivery_tag
                for settled in [tag, *(earlier for earlier in self.unsettled if earlier < tag)] \
                        if request.multiple else [tag]:
                    self.unsettled.pop(settled, None)
                if self._busy and request.requeue is None and not request.multiple and self.prefetch == 1:
                    self._pause_for_the_run()  # a claim's ack: stopped first, so the ack frees no credit
                self._settle(request)
        finally:
            request.done.set()

    def _pause_for_the_run(self) -> None:
        """Stop receiving while the handler goes on with the run in hand; resume at once if it ended meanwhile
        (it saw the pump not yet paused, so it asked for no resume)."""
        self._pause(True)
        if not self._busy:
            self._pause(False)

    def _long_run_due(self) -> float | None:
        """When the run in hand counts as long, with more than one delivery prefetched (monotonic); None otherwise.

        Only then does the pump stop receiving, and hand back what waits behind the run; never
        for a short run (see the module's docstring for why a cancel costs a quorum queue's
        delivery). With a prefetch of 1 the claim's ack stops receiving instead.
        """
        if self._busy and self.prefetch > 1:
            return self._busy_since + self.bus.settings.log_flush_interval
        return None

    def _behind_a_long_run(self) -> bool:
        due = self._long_run_due()
        return due is not None and time.monotonic() >= due

    def _tick(self) -> float:
        """How long the pump may wait for the broker: less when the run in hand becomes long before then."""
        due = self._long_run_due()
        if due is None or self._paused:
            return IDLE_TICK
        return min(IDLE_TICK, max(due - time.monotonic(), 0.0))

    def _hands_back(self, message: Message) -> bool:
        """Whether a delivery can go back to its queue as a copy (one this process cannot start soon, or one handed
        back): with more than one delivery prefetched, on a connection that publishes, for a run request (whose
        exchange routes the copy back to the same queue alone)."""
        return (self.prefetch > 1 and self.publish_channel is not None
                and message.delivery_info.get("exchange") == RUN_EXCHANGE)

    def _hand_back_waiting(self) -> None:
        """Return the deliveries waiting in this process (behind a run that outlasted its claim window, or when the
        loop stops), so other workers take them.

        Each goes back as a copy (confirmed), then the original is acked: a reject would count
        as a delivery on a quorum queue, toward its delivery limit, though the run never started.
        Deliveries the handler thread took meanwhile are its own; others stay for it.
        """
        kept = []
        while True:
            try:
                generation, delivery = self.deliveries.get_nowait()
            except Empty:
                break
            if generation != self.generation:
                continue  # its connection is gone: the broker delivers it again
            message = delivery._message
            if message is not None and self._hands_back(message):
                self.unsettled.pop(message.delivery_tag, None)
                self._hand_back(message)
            else:
                kept.append((generation, delivery))
        for item in kept:
            self.deliveries.put(item)

    def _hand_back(self, message: Message) -> None:
        info = message.delivery_info
        publish_message(self._publishing_channel(), message.body, RUN_EXCHANGE, info["routing_key"],
                        message_id=message.properties.get("message_id"),
                        headers=handed_back_headers(message.headers or {}, bool(info.get("redelivered"))))
        message.ack()

    def _perform_waiting(self) -> None:
        """Make the calls asked for, in order, while there is a connection.

        They come after the acks and consumer changes of the same wake-up: a publish
        waits for the broker's confirm, and the next delivery should not wait behind it.
        """
        while self._waiting and self.publish_channel is not None:
            self._perform(self._waiting[0])
            self._waiting.pop(0)

    def _perform(self, request: _Action) -> None:
        """Run another thread's channel call; a lost connection keeps it waiting for the next one."""
        if request.abandoned:
            return
        try:
            request.result = request.run(self._publishing_channel())
        except self.bus.connection_errors:
            raise  # the connection is gone: reconnect, then make the call again
        except BaseException as exc:  # handed to the thread that asked
            request.error = exc
        request.done.set()

    def _open_publishing_channel(self) -> Any:
        channel = self.connection.channel()
        channel.events["basic_return"].add(self.bus.on_return)
        return channel

    def _publishing_channel(self) -> Any:
        """The publishing channel, reopened if the broker closed it over a channel error (a 404 declare)."""
        if not self.publish_channel.is_open:
            self.publish_channel = self._open_publishing_channel()
        return self.publish_channel

    def _fail_actions(self, error: BaseException) -> None:
        """Answer every call still waiting with ``error``, so no thread waits for a loop that has ended."""
        pending = self._waiting
        self._waiting = []
        try:
            while True:
                request = self.requests.get_nowait()
                if isinstance(request, _Action):
                    pending.append(request)
                else:
                    request.done.set()
        except Empty:
            pass
        for request in pending:
            request.error = error
            request.done.set()

    def _settle(self, request: _SettleRequest) -> None:
        if request.hand_back and self._hands_back(request.message):
            self._hand_back(request.message)
        elif request.requeue is None:
            request.message.ack(multiple=request.multiple)
        else:
            self.bus.transport.reject(self.channel, self.bus.settings, request.message, request.queue, request.requeue)
