"""What differs between the brokers jobruntime runs on, behind one class per broker.

``AmqpTransport`` talks to RabbitMQ; ``MemoryTransport`` is kombu's in-process
``memory://`` broker of the embedded default, which lacks some RabbitMQ features
(queue arguments, consumer counts, mandatory routing, dead-lettering, publisher
confirms) that it emulates through :mod:`jobruntime.bus.memory`. The bus, the
consume loop and the commands ask the transport (``Transport.for_url``) instead of
testing the URL.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from kombu import Connection, Consumer
from kombu.message import Message

from jobruntime.bus import memory as memory_broker
from jobruntime.bus.topology import DEAD_EXCHANGE, presence_queue, run_queue
from jobruntime.core.settings import Settings

if TYPE_CHECKING:
    from jobruntime.bus.consumer import _Pump

MEMORY_POLL_INTERVAL = 0.02  # seconds between polls of memory:// queues


class Transport:
    """The broker-specific half of the bus; one instance per ``Bus``."""

    in_process = False
    """The broker lives inside this process: only its own threads publish to it or consume from it."""

    @staticmethod
    def for_url(broker_url: str) -> Transport:
        """The transport of ``broker_url``: ``memory://`` in process, anything else over AMQP."""
        return MemoryTransport() if broker_url.split("://", 1)[0] == "memory" else AmqpTransport()

    def open(self, broker_url: str, *, heartbeat: float, connect_timeout: float) -> Connection:
        """A new, not yet connected, connection with this broker's options."""
        raise NotImplementedError

    def queue_arguments(self, settings: Settings) -> dict[str, Any]:
        """The arguments a task queue is declared with."""
        raise NotImplementedError

    def checks_before_publish(self, settings: Settings) -> tuple[bool, bool]:
        """Whether a run's publish first checks (that its queue exists, that a worker serves it)."""
        raise NotImplementedError

    def workers(self, queue: str, count_presence: Callable[[str], int | None]) -> int:
        """How many workers serve ``queue``; ``count_presence(name)`` asks the broker for a queue's consumers."""
        raise NotImplementedError

    def consumer_count(self, queue: str, declared: int) -> int:
        """Consumers of ``queue``, given the count its passive declaration reported."""
        return declared

    def watch_returns(self, channel: Any, on_return: Callable[..., None]) -> None:
        """Have unroutable mandatory publishes on ``channel`` reported to ``on_return``."""

    def forget_queue(self, queue: Any) -> None:
        """Remove a subscription's exclusive queue (a real broker drops it with its connection)."""

    def reject(self, channel: Any, settings: Settings, message: Message, queue: str, requeue: bool) -> None:
        """Reject ``message`` from ``queue``: requeue it, or dead-letter it."""
        message.reject(requeue=requeue)

    # The consume loop: how it starts receiving, pauses, and lends its connection to publishes.

    shares_consumer_connection = True
    """Publishes travel over the consume loop's connection while it runs (one connection per worker process)."""

    def start_consuming(self, pump: _Pump, channel: Any) -> None:
        """Prepare ``pump`` to receive from its queues on ``channel`` (receiving starts unpaused)."""
        raise NotImplementedError

    def pause(self, pump: _Pump, paused: bool, confirmed: bool) -> None:
        """Stop (or resume) receiving on the pump's queues."""
        raise NotImplementedError

    def serving(self, queues: list[str]) -> AbstractContextManager[Any]:
        """Held while a consume loop serves ``queues``."""
        return nullcontext()


class AmqpTransport(Transport):
    """RabbitMQ: publisher confirms, heartbeats, mandatory routing, quorum queues and presence queues."""

    def open(self, broker_url: str, *, heartbeat: float, connect_timeout: float) -> Connection:
        return Connection(broker_url, heartbeat=heartbeat, connect_timeout=connect_timeout,
                          transport_options={"confirm_publish": True})

    def queue_arguments(self, settings: Settings) -> dict[str, Any]:
        """Quorum queues replicate across a cluster and stop a poison message after ``max_attempts``
        re-deliveries (RabbitMQ delivers it at most ``max_attempts + 1`` times, then dead-letters it with
        reason ``delivery_limit``). Classic queues have no delivery limit; the run handler's own attempt
        counter must stop poison messages there."""
        arguments: dict[str, Any] = {"x-dead-letter-exchange": DEAD_EXCHANGE}
        if settings.queue_type == "quorum":
            arguments |= {"x-queue-type": "quorum", "x-delivery-limit": settings.max_attempts}
        return arguments

    def checks_before_publish(self, settings: Settings) -> tuple[bool, bool]:
        return settings.check_consumers, settings.check_consumers

    def workers(self, queue: str, count_presence: Callable[[str], int | None]) -> int:
        return count_presence(presence_queue(queue).name) or 0

    def watch_returns(self, channel: Any, on_return: Callable[..., None]) -> None:
        channel.events["basic_return"].add(on_return)

    def start_consuming(self, pump: _Pump, channel: Any) -> None:
        # Presence first: whoever sees this worker consuming a run queue must also see it serving it.
        Consumer(channel, [presence_queue(name) for name in pump.queues], no_ack=True).consume()

    def pause(self, pump: _Pump, paused: bool, confirmed: bool) -> None:
        """The broker's replies are not awaited (it handles a channel's methods in order, so nothing is
        delivered after the cancel), except the first consume of a connection (``confirmed``), which
        reports a missing queue at once."""
        for name in pump.queues:
            if paused:
                pump.channel.basic_cancel(pump.consumer_tags[name], nowait=True)
            else:  # a new tag each time: RabbitMQ 3.10 fails a quorum queue's channel that consumes again under the
                # tag of a cancelled consumer whose deliveries are still unacked
                tag = pump.consumer_tags[name] = pump.consumer_tag(name)
                pump.channel.basic_consume(name, consumer_tag=tag, callback=pump.raw_receiver(name),
                                           nowait=not confirmed)


class MemoryTransport(Transport):
    """kombu's in-process broker, with what it lacks emulated so the embedded default behaves like RabbitMQ."""

    in_process = True
    shares_consumer_connection = False

    def open(self, broker_url: str, *, heartbeat: float, connect_timeout: float) -> Connection:
        return Connection(broker_url, transport_options={"polling_interval": MEMORY_POLL_INTERVAL})

    def queue_arguments(self, settings: Settings) -> dict[str, Any]:
        return {}  # kombu's in-process transport ignores queue arguments entirely

    def checks_before_publish(self, settings: Settings) -> tuple[bool, bool]:
        # The queue must exist (no mandatory routing here); workers are not checked, because the
        # embedded worker may start consuming after the first publish.
        return True, False

    def workers(self, queue: str, count_presence: Callable[[str], int | None]) -> int:
        return memory_broker.consumer_count(queue)

    def consumer_count(self, queue: str, declared: int) -> int:
        return memory_broker.consumer_count(queue)

    def forget_queue(self, queue: Any) -> None:
        for item in queue.bindings:
            queue.unbind_from(item.exchange, item.routing_key)
        queue.delete()

    def reject(self, channel: Any, settings: Settings, message: Message, queue: str, requeue: bool) -> None:
        memory_broker.reject(channel, settings, message, queue, requeue)

    def start_consuming(self, pump: _Pump, channel: Any) -> None:
        pump.consumers = [
            Consumer(channel, [run_queue(name, pump.bus.settings)], on_message=pump.receiver(name),
                     auto_declare=False)
            for name in pump.queues
        ]

    def pause(self, pump: _Pump, paused: bool, confirmed: bool) -> None:
        for consumer in pump.consumers:
            if paused:
                consumer.cancel()
            else:
                consumer.consume()

    def serving(self, queues: list[str]) -> AbstractContextManager[Any]:
        return memory_broker.counted(queues)
