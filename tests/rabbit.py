"""Helpers for tests that talk to the real RabbitMQ: the broker CLI, raw connections, a dead-letter tap.

Each test session works in a virtual host of its own (``VHOST``), which conftest
creates at the start and deletes at the end with everything in it: queues a test
leaves behind do not pile up (each holds broker file handles, and a broker out of
them stops accepting connections), and sessions sharing a broker never see each
other's dead letters or events. Test queues also get unique names and are deleted
afterwards.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from kombu import Connection, Queue
from kombu.message import Message

from jobruntime.bus.broker import Bus, Delivery
from jobruntime.bus.topology import DEAD_QUEUE, dead_exchange

BROKER_ADDRESS = "127.0.0.1:5672"
# Set in the environment, so the processes a test starts (which import these helpers too) share it.
VHOST = os.environ.setdefault("JOBRUNTIME_TEST_VHOST", f"jobruntime-test-{uuid.uuid4().hex[:10]}")
# JOBRUNTIME_TEST_AMQP_URL points the suite at a broker (and vhost) of one's own; it is then left as it is.
OWN_VHOST = "JOBRUNTIME_TEST_AMQP_URL" not in os.environ
AMQP_URL = os.environ.get("JOBRUNTIME_TEST_AMQP_URL", f"amqp://guest:guest@{BROKER_ADDRESS}/{VHOST}")


def unique(prefix: str) -> str:
    return f"test.{prefix}.{uuid.uuid4().hex[:10]}"


def rabbitmqctl(*args: str) -> str:
    """Run the broker's admin CLI and return its output (raises on failure)."""
    result = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60, check=True)
    return result.stdout


def open_session_vhost() -> None:
    """Create this session's vhost, guest allowed everything in it (a no-op for a broker of one's own)."""
    if OWN_VHOST:
        rabbitmqctl("add_vhost", VHOST)
        rabbitmqctl("set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*")


def close_session_vhost() -> None:
    """Delete this session's vhost and every queue and exchange in it."""
    if OWN_VHOST:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", VHOST], capture_output=True, timeout=120)


def listed_queue(name: str) -> dict[str, Any]:
    """The broker's own description of a queue: type, arguments (as a dict), consumers, messages."""
    rows = json.loads(rabbitmqctl("list_queues", "-p", VHOST, "name", "type", "arguments", "--formatter", "json"))
    row = next(row for row in rows if row["name"] == name)
    return {**row, "arguments": {key: value for key, _kind, value in row["arguments"]}}


def bindings_of(exchange: str) -> list[str]:
    """Names of the queues bound to ``exchange``."""
    rows = json.loads(rabbitmqctl("list_bindings", "-p", VHOST, "source_name", "destination_name", "--formatter", "json"))
    return [row["destination_name"] for row in rows if row["source_name"] == exchange]


def broker_accepts_connections() -> bool:
    try:
        with Connection(AMQP_URL, connect_timeout=2) as connection:
            connection.connect()
        return True
    except (OSError, *Connection(AMQP_URL).connection_errors):
        return False


def ensure_broker_running(timeout: float = 60) -> None:
    """Start the RabbitMQ app if a test stopped it, and wait until it takes connections again."""
    if not broker_accepts_connections():
        subprocess.run(["rabbitmqctl", "-q", "start_app"], capture_output=True, timeout=120)
    deadline = time.monotonic() + timeout
    while not broker_accepts_connections():
        if time.monotonic() > deadline:
            raise RuntimeError("RabbitMQ did not come back; start it with `rabbitmq-server -detached`")
        time.sleep(0.5)


def delete_queues(names: Sequence[str], url: str = AMQP_URL) -> None:
    with Connection(url) as connection:
        channel = connection.channel()
        for name in names:
            channel.queue_delete(queue=name)


def raw_get(queue: str, timeout: float = 5.0, url: str = AMQP_URL) -> Message | None:
    """Take one message off ``queue`` exactly as the broker stores it (acknowledged)."""
    with Connection(url) as connection:
        channel = connection.channel()
        channel.auto_decode = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = Queue(queue, no_declare=True)(channel).get(no_ack=True)
            if message is not None:
                return message
            time.sleep(0.05)
    return None


def memory_dead_letter(body: bytes) -> Message | None:
    """Take the memory:// dead letter carrying ``body`` (other tests' dead letters stay put)."""
    with Connection("memory://") as connection:
        dead_queue = Queue(DEAD_QUEUE, no_declare=True)(connection.channel())
        others = []
        try:
            while (message := dead_queue.get(no_ack=False)) is not None:
                if message.body == body:
                    message.ack()
                    return message
                others.append(message)
        finally:
            for message in others:
                message.reject(requeue=True)
    return None


class DeadLetterTap:
    """A private queue bound to the fanout dead-letter exchange.

    It receives a copy of everything that reaches ``jobruntime.dead-letter``,
    so a test reads its own dead letters without consuming the shared queue;
    ``close()`` then removes those copies from the shared queue, leaving other
    suites' dead letters in place.
    """

    def __init__(self, url: str = AMQP_URL) -> None:
        self.connection = Connection(url)
        self.channel = self.connection.channel()
        self.channel.auto_decode = False
        self.queue = Queue(unique("dead-tap"), exchange=dead_exchange, exclusive=True, auto_delete=True)(self.channel)
        self.queue.declare()
        self.seen: list[bytes] = []

    def get(self, timeout: float = 10.0) -> Message | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.queue.get(no_ack=True)
            if message is not None:
                self.seen.append(message.body)
                return message
            time.sleep(0.05)
        return None

    def close(self) -> None:
        shared = Queue(DEAD_QUEUE, no_declare=True)(self.channel)
        held = []
        while self.seen and (message := shared.get(no_ack=False)) is not None:
            if message.body in self.seen:
                self.seen.remove(message.body)
                message.ack()
            else:
                held.append(message)
        for message in held:
            message.reject(requeue=True)
        self.connection.release()


@contextmanager
def consuming(bus: Bus, queues: Sequence[str], handler: Callable[[Delivery], None], *, prefetch: int = 1) -> Iterator[
    threading.Thread
]:
    """Run ``bus.consume`` in a thread for the block's duration; waits until it consumes every queue."""
    thread = threading.Thread(target=bus.consume, args=(list(queues), handler), kwargs={"prefetch": prefetch})
    thread.start()
    try:
        wait_for(lambda: all(bus.queue_consumers(queue) for queue in queues), what="the consumer to start")
        yield thread
    finally:
        bus.stop()
        thread.join(timeout=30)
        assert not thread.is_alive(), "consume() did not return after stop()"


def wait_for(condition: Callable[[], Any], *, timeout: float = 10.0, what: str = "the condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"Timed out after {timeout} s waiting for {what}")


def unused_port() -> int:
    """A local TCP port nothing listens on, to stand in for an unreachable broker."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def poisoned_queue(bus: Bus, name: str) -> Iterator[str]:
    """Run queue ``name`` whose only consumer dies before claiming anything, so the broker dead-letters
    whatever is published to it once its delivery limit is spent; deleted afterwards."""

    def die_before_claiming(_delivery: Delivery) -> None:
        raise RuntimeError("the worker process died")

    bus.declare_run_queues([name])
    try:
        with consuming(bus, [name], die_before_claiming):
            yield name
    finally:
        delete_queues([name])
