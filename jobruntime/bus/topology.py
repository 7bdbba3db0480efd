"""The wire contract every jobruntime process agrees on: names, types, queue arguments, message properties.

Publishers, workers and the operator's pre-declared definitions
(``infra/rabbitmq/definitions.json``) must describe each exchange and queue
identically, because RabbitMQ refuses to re-declare an entity with different
properties. Keeping the whole topology in this one module is what keeps them
in step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from weakref import WeakKeyDictionary

from amqp.exceptions import MessageNacked
from kombu import Exchange, Producer, Queue, binding

from jobruntime.core.errors import SetupError
from jobruntime.core.settings import Settings

RUN_EXCHANGE = "jobruntime.run"
EVENTS_EXCHANGE = "jobruntime.events"
DEAD_EXCHANGE = "jobruntime.dead"
DEAD_QUEUE = "jobruntime.dead-letter"
DEAD_RUNS_QUEUE = "jobruntime.dead-letter.runs"
# Object changes from other systems (see jobruntime.changes.external); a worker consumes them with -Q jobruntime.changes.
CHANGES_EXCHANGE = "jobruntime.changes"
CHANGES_QUEUE = "jobruntime.changes"
CHANGES_BINDING = "object.change.#"

CONTENT_TYPE = "application/json"
#: Header naming why jobruntime itself dead-lettered a message.
REASON_HEADER = "x-jobruntime-reason"
REASON_HEADER_LIMIT = 1000  # characters; the reason in full goes to the error event
#: Header RabbitMQ quorum queues set to the number of earlier deliveries.
DELIVERY_COUNT_HEADER = "x-delivery-count"
#: Header of a copy a worker handed back to its queue unrun: the deliveries the original had had.
HANDED_BACK_COUNT_HEADER = "x-jobruntime-delivery-count"
#: Header RabbitMQ sets on the first dead-lettering (``rejected``, ``delivery_limit``, ...).
FIRST_DEATH_REASON_HEADER = "x-first-death-reason"

run_exchange = Exchange(RUN_EXCHANGE, type="direct", durable=True)
events_exchange = Exchange(EVENTS_EXCHANGE, type="topic", durable=True)
dead_exchange = Exchange(DEAD_EXCHANGE, type="fanout", durable=True)
changes_exchange = Exchange(CHANGES_EXCHANGE, type="topic", durable=True)


class TopologyMismatch(SetupError, RuntimeError):
    """An exchange or queue already exists on the broker with other properties."""

    def __init__(self, entity: str, detail: str) -> None:
        self.entity = entity
        super().__init__(
            f'The broker already has "{entity}" declared differently ({detail}). Delete it '
            "(rabbitmqctl delete_queue / the management UI) or set JOBRUNTIME_QUEUE_TYPE and "
            "JOBRUNTIME_MAX_ATTEMPTS to match the existing declaration."
        )


def run_queue_arguments(settings: Settings) -> dict[str, Any]:
    """Queue arguments of a task queue, as its broker's transport declares them."""
    from jobruntime.bus.transport import Transport  # the transports build queues from this module

    return Transport.for_url(settings.broker_url).queue_arguments(settings)


def run_queue(name: str, settings: Settings) -> Queue:
    """The durable task queue ``name``, bound to the run exchange with its own name as key.

    ``CHANGES_QUEUE`` is the one queue of another kind: bound to the changes exchange for
    every object-change key, with the same dead-lettering as task queues.
    """
    if name == CHANGES_QUEUE:
        return Queue(name, exchange=changes_exchange, routing_key=CHANGES_BINDING, durable=True,
                     queue_arguments=run_queue_arguments(settings))
    return Queue(
        name,
        exchange=run_exchange,
        routing_key=name,
        durable=True,
        queue_arguments=run_queue_arguments(settings),
    )


def presence_queue(run_queue_name: str) -> Queue:
    """``<queue>.workers``: every worker consuming ``run_queue_name`` also consumes this one, never pausing.

    Nothing is ever published to it. Its consumer count says how many workers serve
    the run queue even while all of them are busy (they stop consuming the run queue
    during a job so no message waits unacked behind it); it is deleted with the last worker.
    """
    return Queue(f"{run_queue_name}.workers", durable=False, auto_delete=True)


def dead_letter_queue() -> Queue:
    """The queue that keeps every dead-lettered message for an operator to inspect or replay.

    A plain durable queue whatever ``queue_type`` says, so processes configured
    differently still agree on it and it works on any broker.
    """
    return Queue(DEAD_QUEUE, exchange=dead_exchange, durable=True)


def dead_runs_queue() -> Queue:
    """The supervisors' copy of every dead-lettered message: each ends the run it names, if still pending.

    A request the broker itself dead-letters (its delivery limit spent on worker
    processes that died before claiming it) would otherwise leave the run that
    ``runjob`` recorded ``pending`` for ever. The operator's own queue keeps its copy.
    """
    return Queue(DEAD_RUNS_QUEUE, exchange=dead_exchange, durable=True)


def subscription_queue(name: str, patterns: Iterable[str]) -> Queue:
    """A private queue receiving the events whose routing keys match ``patterns``.

    Exclusive and auto-deleted, so it disappears with the subscriber's connection
    and never accumulates events nobody reads.
    """
    return Queue(
        name,
        bindings=[binding(events_exchange, routing_key=pattern) for pattern in patterns],
        durable=False,
        exclusive=True,
        auto_delete=True,
    )


def declare_topology(channel: Any, settings: Settings, run_queues: Iterable[str] = ()) -> None:
    """Declare the exchanges, and with task queues the queues dead letters go to too (idempotent).

    Only a worker (which names its task queues) declares the dead-letter queues: binding
    them takes read access to ``jobruntime.dead``, which would let a publisher or an
    events reader bind a queue of its own there and read every dead letter.

    Raises ``TopologyMismatch`` when an entity exists with other arguments, e.g. a
    classic queue where settings ask for a quorum queue.
    """
    names = list(run_queues)
    entities: list[Exchange | Queue] = [run_exchange, events_exchange, changes_exchange, dead_exchange]
    if names:
        entities += [dead_letter_queue(), dead_runs_queue(), *(run_queue(name, settings) for name in names)]
    for entity in entities:
        try:
            entity(channel).declare()
        except Exception as exc:
            if getattr(exc, "reply_code", None) == 406:  # PRECONDITION_FAILED: inequivalent arguments
                raise TopologyMismatch(entity.name, str(exc)) from exc
            raise


def bytes_channel(connection: Any) -> Any:
    """A channel whose deliveries keep their bodies as bytes.

    py-amqp decodes a body that carries ``content_encoding`` into ``str`` by
    default; jobruntime hands bodies on as the bytes that were published.
    """
    channel = connection.channel()
    channel.auto_decode = False
    return channel


def publish_message(
    channel: Any,
    body: bytes,
    exchange: str,
    routing_key: str,
    *,
    mandatory: bool = False,
    message_id: str | None = None,
    headers: Mapping[str, Any] | None = None,
) -> None:
    """Put one jobruntime message on the wire: JSON, persistent (survives a broker restart).

    Waits for the broker's confirm when the connection has ``confirm_publish``;
    an unroutable ``mandatory`` message comes back as ``basic.return`` to the
    channel's return handlers.
    """
    Producer(channel).publish(
        body,
        exchange=exchange,
        routing_key=routing_key,
        mandatory=mandatory,
        delivery_mode=2,
        content_type=CONTENT_TYPE,
        content_encoding="utf-8",
        message_id=message_id,
        headers=dict(headers or {}),
        retry=False,
    )
    if getattr(channel, "_confirm_selected", False):  # numbered by the broker: publish_messages counts on it
        _PUBLISHED[channel] = _PUBLISHED.get(channel, 0) + 1


_PUBLISHED: WeakKeyDictionary[Any, int] = WeakKeyDictionary()  # confirmed-mode publishes per channel
CONFIRM_TIMEOUT = 30.0  # seconds a batch of publishes waits for the broker's confirms


def publish_messages(channel: Any, messages: Sequence[tuple[bytes, str, str, str | None]]) -> None:
    """Put several jobruntime messages (body, exchange, routing key, message id) on the wire, then wait once.

    On a connection with publisher confirms this returns once the broker has confirmed
    every one of them: one round trip for the batch instead of one per message. Raises
    ``MessageNacked`` when the broker refuses one (the caller publishes them all again).
    """
    if not getattr(channel.connection, "confirm_publish", False):
        for body, exchange, routing_key, message_id in messages:
            publish_message(channel, body, exchange, routing_key, message_id=message_id)
        return
    if not channel._confirm_selected:  # as py-amqp's own confirmed publish does on first use
        channel._confirm_selected = True
        channel.confirm_select()
    first = _PUBLISHED.get(channel, 0) + 1
    last = _PUBLISHED[channel] = first + len(messages) - 1
    waiting, refused = set(range(first, last + 1)), []

    def acked(delivery_tag: int, multiple: bool) -> None:
        waiting.difference_update([tag for tag in waiting if tag <= delivery_tag] if multiple else [delivery_tag])

    def nacked(delivery_tag: int, multiple: bool, *_: Any) -> None:
        refused.append(delivery_tag)

    # Listening before publishing: py-amqp may read the broker's confirms of the first messages while it
    # publishes the next ones.
    channel.events["basic_ack"].add(acked)
    channel.events["basic_nack"].add(nacked)
    try:
        for body, exchange, routing_key, message_id in messages:
            channel._basic_publish(channel.prepare_message(
                body, content_type=CONTENT_TYPE, content_encoding="utf-8", headers={},
                properties={"delivery_mode": 2, **({"message_id": message_id} if message_id else {})},
            ), exchange=exchange, routing_key=routing_key)
        while waiting and not refused:  # a broker that stays silent fails the connection, which is then replaced
            channel.connection.drain_events(timeout=CONFIRM_TIMEOUT)
    finally:
        channel.events["basic_ack"].discard(acked)
        channel.events["basic_nack"].discard(nacked)
    if refused:
        raise MessageNacked(f"the broker refused message {refused[0]} of a batch")


def death_reason(headers: Mapping[str, Any]) -> str | None:
    """Why a message in the dead-letter queue got there, whoever dead-lettered it.

    jobruntime's own ``dead_letter()`` sets ``x-jobruntime-reason``; the broker
    records its reason (``rejected``, ``delivery_limit``, ``expired``) in
    ``x-first-death-reason``.
    """
    return headers.get(REASON_HEADER) or headers.get(FIRST_DEATH_REASON_HEADER)


def delivery_count(headers: Mapping[str, Any], redelivered: bool) -> int:
    """Earlier deliveries: the broker's count, else 1 if redelivered; a publisher's own bogus value is ignored.

    A copy handed back unrun (``handed_back_headers``) adds the deliveries its original had had.
    """
    count = _count(headers.get(DELIVERY_COUNT_HEADER))
    return (int(redelivered) if count is None else count) + (_count(headers.get(HANDED_BACK_COUNT_HEADER)) or 0)


def handed_back_headers(headers: Mapping[str, Any], redelivered: bool) -> dict[str, Any]:
    """The headers of the copy of a delivery that goes back to its queue unrun.

    The copy is a new message, so the broker counts its deliveries from zero: the
    original's count travels in ``HANDED_BACK_COUNT_HEADER`` instead, so handing a
    message back spends none of its queue's delivery limit (which counts crashes).
    """
    kept = {key: value for key, value in headers.items()
            if key not in (DELIVERY_COUNT_HEADER, HANDED_BACK_COUNT_HEADER)}
    count = delivery_count(headers, redelivered)
    return {**kept, HANDED_BACK_COUNT_HEADER: count} if count else kept


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
