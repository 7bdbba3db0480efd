"""What kombu's in-process ``memory://`` transport lacks, emulated so the embedded default behaves like RabbitMQ.

The consume loop (``jobruntime.bus.consumer``) uses these on ``memory://`` only: a
per-process consumer count (there is no broker to ask), and a quorum queue's
requeue with its delivery limit and dead-letter exchange.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.message import Message

from jobruntime.bus.topology import (
    DEAD_EXCHANGE,
    DELIVERY_COUNT_HEADER,
    FIRST_DEATH_REASON_HEADER,
    RUN_EXCHANGE,
    delivery_count,
    publish_message,
)
from jobruntime.core.settings import Settings

_consumers: Counter[str] = Counter()
_consumers_lock = threading.Lock()


def consumer_count(queue: str) -> int:
    """Consumers of a ``memory://`` queue: the consume loops of this process, the only process there is."""
    with _consumers_lock:
        return _consumers[queue]


@contextmanager
def counted(queues: list[str]) -> Iterator[None]:
    """Count a consume loop as a consumer of ``queues`` while the block runs."""
    with _consumers_lock:
        _consumers.update(queues)
    try:
        yield
    finally:
        with _consumers_lock:
            _consumers.subtract(queues)


def reject(channel: Any, settings: Settings, message: Message, queue: str, requeue: bool) -> None:
    """Reject as a quorum queue would: requeue with a counted delivery, or dead-letter past the limit."""
    count = delivery_count(message.headers, redelivered=False)
    if requeue and not (settings.queue_type == "quorum" and count >= settings.max_attempts):
        headers = {**message.headers, DELIVERY_COUNT_HEADER: count + 1}
        publish_message(channel, message.body, RUN_EXCHANGE, queue, headers=headers)
    else:
        reason = "delivery_limit" if requeue else "rejected"
        headers = {**message.headers, FIRST_DEATH_REASON_HEADER: reason, "x-first-death-queue": queue}
        publish_message(channel, message.body, DEAD_EXCHANGE, "", headers=headers)
    message.ack()
