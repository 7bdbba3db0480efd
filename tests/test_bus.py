"""The message bus against the real RabbitMQ, and its in-process twin on memory://."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kombu import Connection, Queue

from jobruntime.bus.broker import AlreadySettled, BrokerUnavailable, Bus, Delivery, NoWorkers, QueueNotFound
from jobruntime.bus.topology import (
    DEAD_EXCHANGE,
    DEAD_QUEUE,
    DEAD_RUNS_QUEUE,
    REASON_HEADER,
    RUN_EXCHANGE,
    TopologyMismatch,
    changes_exchange,
    dead_exchange,
    death_reason,
    events_exchange,
    run_exchange,
    run_queue_arguments,
)
from jobruntime.core.settings import Settings
from tests.bus_support import broker_connections
from tests.rabbit import (
    AMQP_URL,
    DeadLetterTap,
    bindings_of,
    consuming,
    delete_queues,
    ensure_broker_running,
    listed_queue,
    memory_dead_letter,
    rabbitmqctl,
    raw_get,
    unique,
    unused_port,
    wait_for,
)

pytestmark = pytest.mark.bus


def amqp_settings(**overrides: object) -> Settings:
    return Settings(broker_url=AMQP_URL, **overrides)


@pytest.fixture
def queue() -> Iterator[str]:
    name = unique("run")
    yield name
    delete_queues([name])


@pytest.fixture
def bus() -> Iterator[Bus]:
    with Bus(amqp_settings()) as bus:
        yield bus


@pytest.fixture
def tap() -> Iterator[DeadLetterTap]:
    tap = DeadLetterTap()
    yield tap
    tap.close()


@pytest.fixture
def memory_bus() -> Iterator[Bus]:
    with Bus(Settings(broker_url="memory://")) as bus:
        yield bus


def collect(into: list[Delivery]) -> Callable[[Delivery], None]:
    """A handler that records each delivery and acks it."""

    def handler(delivery: Delivery) -> None:
        into.append(delivery)
        delivery.ack()

    return handler


# --- topology -----------------------------------------------------------------------------------


def test_topology_declares_quorum_queues_with_delivery_limit_and_dlx(bus: Bus, queue: str) -> None:
    bus.declare_run_queues([queue])
    bus.declare_run_queues([queue])  # idempotent

    listed = listed_queue(queue)
    assert listed["type"] == "quorum"
    assert listed["arguments"] == {
        "x-queue-type": "quorum",
        "x-delivery-limit": bus.settings.max_attempts,
        "x-dead-letter-exchange": DEAD_EXCHANGE,
    }
    assert queue in bindings_of(RUN_EXCHANGE)
    assert DEAD_QUEUE in bindings_of(DEAD_EXCHANGE)


def test_classic_queue_type_declares_classic_queues_with_dlx_and_no_limit(queue: str) -> None:
    with Bus(amqp_settings(queue_type="classic")) as bus:
        bus.declare_run_queues([queue])

    listed = listed_queue(queue)
    assert listed["type"] == "classic"
    assert listed["arguments"] == {"x-dead-letter-exchange": DEAD_EXCHANGE}


def test_redeclaring_a_queue_with_other_arguments_raises_topology_mismatch(bus: Bus, queue: str) -> None:
    bus.declare_run_queues([queue])

    with Bus(amqp_settings(max_attempts=7)) as other, pytest.raises(TopologyMismatch, match=queue):
        other.declare_run_queues([queue])


def test_operator_definitions_match_the_declared_topology() -> None:
    definitions = json.loads((Path(__file__).parents[1] / "infra/rabbitmq/definitions.json").read_text())
    settings = Settings(broker_url=AMQP_URL)  # defaults: quorum, max_attempts 3, queue "default"

    exchanges = {item["name"]: (item["type"], item["durable"]) for item in definitions["exchanges"]}
    assert exchanges == {
        exchange.name: (exchange.type, exchange.durable)
        for exchange in (run_exchange, events_exchange, dead_exchange, changes_exchange)
    }
    queues = {item["name"]: item["arguments"] for item in definitions["queues"]}
    assert queues == {DEAD_QUEUE: {}, DEAD_RUNS_QUEUE: {}, settings.default_queue: run_queue_arguments(settings)}
    bindings = {(item["source"], item["destination"], item["routing_key"]) for item in definitions["bindings"]}
    assert bindings == {(DEAD_EXCHANGE, DEAD_QUEUE, ""), (DEAD_EXCHANGE, DEAD_RUNS_QUEUE, ""),
                        (RUN_EXCHANGE, settings.default_queue, settings.default_queue)}


# --- publishing ---------------------------------------------------------------------------------


def test_published_run_is_consumed_and_acked(bus: Bus, queue: str) -> None:
    bus.declare_run_queues([queue])
    received: list[Delivery] = []

    with consuming(bus, [queue], collect(received)):
        bus.publish_run(b'{"job": "local/a/B"}', queue, message_id="m-1")
        wait_for(lambda: received, what="the delivery")

    delivery = received[0]
    assert (delivery.body, delivery.queue, delivery.redelivered, delivery.delivery_count) == (
        b'{"job": "local/a/B"}', queue, False, 0,
    )
    assert raw_get(queue, timeout=0.3) is None  # acked: nothing left


def test_run_message_is_persistent_json(queue: str) -> None:
    with Bus(amqp_settings(check_consumers=False)) as bus:
        bus.declare_run_queues([queue])
        bus.publish_run(b'{"a": 1}', queue, message_id="m-2")

    message = raw_get(queue)
    assert message.body == b'{"a": 1}'
    assert message.properties["delivery_mode"] == 2
    assert message.content_type == "application/json"
    assert message.properties["message_id"] == "m-2"


@pytest.mark.parametrize("check_consumers", [True, False], ids=["checked", "mandatory-return"])
def test_publish_to_a_missing_queue_raises_queue_not_found(check_consumers: bool) -> None:
    missing = unique("missing")
    with Bus(amqp_settings(check_consumers=check_consumers)) as bus:
        with pytest.raises(QueueNotFound, match=f'No task queue "{missing}" exists on the broker'):
            bus.publish_run(b"{}", missing, message_id="m-3")
        assert bus.queue_consumers(missing) is None


def test_publish_to_a_queue_without_consumers_raises_no_workers(bus: Bus, queue: str) -> None:
    bus.declare_run_queues([queue])

    with pytest.raises(NoWorkers, match=f"Unable to process request: No workers running on queue {queue}."):
        bus.publish_run(b"{}", queue, message_id="m-4")
    assert raw_get(queue, timeout=0.3) is None


def test_publish_without_consumers_passes_when_check_consumers_is_off(queue: str) -> None:
    with Bus(amqp_settings(check_consumers=False)) as bus:
        bus.declare_run_queues([queue])
        bus.publish_run(b"{}", queue, message_id="m-5")

    assert raw_get(queue) is not None


def test_unreachable_broker_raises_broker_unavailable_within_the_retry_budget() -> None:
    bus = Bus(Settings(broker_url=f"amqp://guest:guest@127.0.0.1:{unused_port()}//"), retry_seconds=0.5)
    started = time.monotonic()

    with pytest.raises(BrokerUnavailable, match="Cannot reach the message broker"):
        bus.publish_event("job.log.info", b"{}")
    assert time.monotonic() - started < 3


# --- consuming ----------------------------------------------------------------------------------


def test_handler_exception_requeues_the_message(bus: Bus, queue: str) -> None:
    bus.declare_run_queues([queue])
    seen: list[Delivery] = []

    def fail_once(delivery: Delivery) -> None:
        seen.append(delivery)
        if len(seen) == 1:
            raise RuntimeError("transient")

    with consuming(bus, [queue], fail_once):
        bus.publish_run(b"{}", queue, message_id="m-6")
        wait_for(lambda: len(seen) == 2, what="the redelivery")

    assert [(d.redelivered, d.delivery_count) for d in seen] == [(False, 0), (True, 1)]
    assert seen[1].settled  # returned normally, so the loop acked it
    assert raw_get(queue, timeout=0.3) is None


def test_a_handed_back_run_request_comes_back_without_spending_a_delivery(queue: str, tap: DeadLetterTap) -> None:
    """Handed back three times on a queue whose delivery limit is 2, it is never dead-lettered (a reject would be)."""
    seen: list[Delivery] = []

    def hand_back_thrice(delivery: Delivery) -> None:
        seen.append(delivery)
        if len(seen) <= 3:
            delivery.hand_back()

    with Bus(amqp_settings(max_attempts=2)) as bus:
        bus.declare_run_queues([queue])
        with consuming(bus, [queue], hand_back_thrice, prefetch=4):
            bus.publish_run(b'{"run": 1}', queue, message_id="m-hand-back")
            wait_for(lambda: len(seen) == 4, what="the fourth delivery")

    assert [(d.body, d.delivery_count) for d in seen] == [(b'{"run": 1}', 0)] * 4
    assert seen[3].settled and raw_get(queue, timeout=0.3) is None
    assert tap.get(timeout=0.5) is None


def test_runs_acked_as_they_start_in_a_shared_backlog_spend_no_delivery(queue: str, tap: DeadLetterTap) -> None:
    """Three consumers drain a backlog whose runs are all acked as they start (claimed at once: scheduled and
    re-queued runs are). A short run must not stop the consumer: a quorum queue returns what was on its way to a
    cancelled consumer as a counted delivery, and a message returned often enough is dead-lettered."""
    total = 300
    seen: list[Delivery] = []
    lock = threading.Lock()

    def claimed_at_start(delivery: Delivery) -> None:
        delivery.ack()  # the claim's ack, while the run goes on
        time.sleep(0.002)
        with lock:
            seen.append(delivery)

    settings = amqp_settings(max_attempts=1, check_consumers=False)
    with Bus(settings) as first, Bus(settings) as second, Bus(settings) as third:
        first.declare_run_queues([queue])
        for index in range(total):
            first.publish_run(json.dumps({"run": index}).encode(), queue, message_id=f"m-{index}")
        with consuming(first, [queue], claimed_at_start, prefetch=32), \
                consuming(second, [queue], claimed_at_start, prefetch=32), \
                consuming(third, [queue], claimed_at_start, prefetch=32):
            wait_for(lambda: len(seen) >= total, timeout=30, what="the backlog to drain")

    assert sorted(json.loads(d.body)["run"] for d in seen) == list(range(total))
    assert {d.delivery_count for d in seen} == {0}
    assert tap.get(timeout=0.5) is None


def test_run_requests_prefetched_by_a_stopping_consumer_go_back_without_spending_a_delivery(
    queue: str, tap: DeadLetterTap,
) -> None:
    """A worker stopped (a deploy, a scale-down) while run requests wait in its prefetch is not a crash: three
    stops in a row, on a queue whose delivery limit is 1, dead-letter none of them (a reject would)."""
    total = 10
    seen: list[Delivery] = []

    def one_then_stop(bus: Bus) -> Callable[[Delivery], None]:
        def handle(delivery: Delivery) -> None:
            seen.append(delivery)
            bus.stop()  # with the other requests prefetched behind this one

        return handle

    with Bus(amqp_settings(max_attempts=1, check_consumers=False)) as publisher:
        publisher.declare_run_queues([queue])
        for index in range(total):
            publisher.publish_run(json.dumps({"run": index}).encode(), queue, message_id=f"m-stop-{index}")
    for stop in range(3):
        with Bus(amqp_settings(max_attempts=1)) as bus:
            consumer = threading.Thread(target=bus.consume, args=([queue], one_then_stop(bus)),
                                        kwargs={"prefetch": total})
            consumer.start()
            try:
                wait_for(lambda stop=stop: len(seen) > stop, what=f"a request after {stop} stopped consumers")
            finally:
                bus.stop()
                consumer.join(timeout=30)
    with Bus(amqp_settings(max_attempts=1)) as bus, consuming(bus, [queue], seen.append, prefetch=total):
        wait_for(lambda: len(seen) >= total, what="every request")

    assert sorted(json.loads(d.body)["run"] for d in seen) == list(range(total))
    assert {d.delivery_count for d in seen} == {0}
    assert tap.get(timeout=0.5) is None


def test_rejected_message_is_dead_lettered_with_the_reason(bus: Bus, queue: str, tap: DeadLetterTap) -> None:
    bus.declare_run_queues([queue])
    body = json.dumps({"bad": queue}).encode()

    with consuming(bus, [queue], lambda delivery: delivery.reject(requeue=False)):
        bus.publish_run(body, queue, message_id="m-7")
        dead = tap.get()

    assert dead.body == body
    assert death_reason(dead.headers) == "rejected"
    assert dead.headers["x-first-death-queue"] == queue


def test_dead_letter_parks_the_body_with_a_reason_header(bus: Bus, tap: DeadLetterTap) -> None:
    body = json.dumps({"unusable": unique("body")}).encode()
    bus.dead_letter(body, "invalid message: not JSON", headers={"x-origin": "test"})

    dead = tap.get()
    assert dead.body == body
    assert dead.headers["x-jobruntime-reason"] == "invalid message: not JSON"
    assert dead.headers["x-origin"] == "test"
    assert death_reason(dead.headers) == "invalid message: not JSON"


def test_quorum_delivery_limit_dead_letters_a_message_that_keeps_failing(queue: str, tap: DeadLetterTap) -> None:
    counts: list[int] = []

    def always_fail(delivery: Delivery) -> None:
        counts.append(delivery.delivery_count)
        raise RuntimeError("poison")

    with Bus(amqp_settings(max_attempts=2)) as bus:
        bus.declare_run_queues([queue])
        with consuming(bus, [queue], always_fail):
            bus.publish_run(json.dumps({"poison": queue}).encode(), queue, message_id="m-8")
            dead = tap.get()

    assert counts == [0, 1, 2]  # the first delivery plus max_attempts redeliveries
    assert death_reason(dead.headers) == "delivery_limit"


def test_supervisors_take_each_dead_letter_once_and_get_it_back_when_handling_fails(queue: str) -> None:
    with Bus(amqp_settings(max_attempts=1)) as bus:
        bus.drain_dead_letters(lambda body, headers: None)  # what earlier tests left
        bus.declare_run_queues([queue])
        bus.dead_letter(json.dumps({"job_result_id": queue}).encode(), "refused on purpose")
        seen: list[tuple[bytes, str]] = []

        def broken(body: bytes, headers: dict) -> None:
            raise ConnectionError("the database is away")

        with pytest.raises(ConnectionError):
            bus.drain_dead_letters(broken)
        assert bus.drain_dead_letters(lambda body, headers: seen.append((body, headers[REASON_HEADER]))) == 1
        assert bus.drain_dead_letters(lambda body, headers: seen.append((body, headers[REASON_HEADER]))) == 0
    assert seen == [(json.dumps({"job_result_id": queue}).encode(), "refused on purpose")]


def test_handler_may_publish_through_the_same_bus(bus: Bus, queue: str) -> None:
    bus.declare_run_queues([queue])

    with bus.subscribe(["job.result.*"]) as subscription:
        with consuming(bus, [queue], lambda delivery: bus.publish_event("job.result.completed", delivery.body)):
            bus.publish_run(b'{"id": 1}', queue, message_id="m-17")
            assert subscription.get(timeout=5) == ("job.result.completed", b'{"id": 1}')


def test_heartbeats_keep_the_connection_alive_through_a_long_handler(queue: str) -> None:
    acked: list[Delivery] = []

    def long_job(delivery: Delivery) -> None:
        time.sleep(3.5)  # several heartbeat intervals without the handler touching the broker
        delivery.ack()
        acked.append(delivery)

    with Bus(amqp_settings(), heartbeat=1) as bus:
        bus.declare_run_queues([queue])
        with consuming(bus, [queue], long_job):
            bus.publish_run(b"{}", queue, message_id="m-18")
            wait_for(lambda: acked, timeout=10, what="the long handler")

    assert raw_get(queue, timeout=0.3) is None  # the ack reached the broker on the original connection


def test_stop_from_another_thread_returns_after_the_handler_in_progress(bus: Bus, queue: str) -> None:
    bus.declare_run_queues([queue])
    started, finished = threading.Event(), threading.Event()

    def slow(delivery: Delivery) -> None:
        started.set()
        time.sleep(0.5)
        delivery.ack()
        finished.set()

    with consuming(bus, [queue], slow) as thread:
        bus.publish_run(b"{}", queue, message_id="m-9")
        assert started.wait(5)
        bus.stop()
        thread.join(timeout=10)
        assert finished.is_set()
        assert not thread.is_alive()

    assert raw_get(queue, timeout=0.3) is None  # its ack went through before the loop returned


def test_events_reach_a_subscription_by_pattern(bus: Bus) -> None:
    run_id = unique("run-id")
    with bus.subscribe(["job.result.*"]) as subscription:
        bus.publish_event("job.log.info", {"job_result_id": run_id, "message": "not for us"})
        bus.publish_event("job.result.completed", {"job_result_id": run_id}, message_id="e-1")

        routing_key, body = subscription.get(timeout=5)
        assert routing_key == "job.result.completed"
        assert json.loads(body) == {"job_result_id": run_id}
        assert subscription.get(timeout=0.3) is None


def test_consumer_survives_a_broker_restart(queue: str) -> None:
    received: list[Delivery] = []
    consumer_bus = Bus(amqp_settings())
    consumer_bus.declare_run_queues([queue])
    try:
        with consuming(consumer_bus, [queue], collect(received)) as thread:
            rabbitmqctl("stop_app")
            rabbitmqctl("start_app")
            with Bus(amqp_settings(check_consumers=False), retry_seconds=15) as publisher:
                publisher.publish_run(b'{"after": "restart"}', queue, message_id="m-10")
            wait_for(lambda: received, timeout=30, what="the delivery after the restart")
            assert thread.is_alive()  # the same consume() loop, never returned
    finally:
        ensure_broker_running()
        consumer_bus.close()

    assert received[0].body == b'{"after": "restart"}'


def test_publishes_while_consuming_share_its_connection_and_wait_out_a_broker_restart(queue: str) -> None:
    events = unique("events")  # a durable queue on the events exchange survives the restart
    with Connection(AMQP_URL) as connection:
        durable = Queue(events, exchange=events_exchange, routing_key="test.shared.#", durable=True)
        durable(connection.default_channel).declare()
    before = broker_connections(os.getpid())
    consumer_bus = Bus(amqp_settings(), retry_seconds=30)
    consumer_bus.declare_run_queues([queue])
    try:
        with consuming(consumer_bus, [queue], collect([])):
            consumer_bus.publish_event("test.shared.before", {"n": 1})
            assert broker_connections(os.getpid()) == before + 1  # the consumer's, which the publish used

            rabbitmqctl("stop_app")
            published = threading.Event()
            publisher = threading.Thread(
                target=lambda: (consumer_bus.publish_event("test.shared.during", {"n": 2}), published.set())
            )
            publisher.start()
            time.sleep(1)
            assert not published.is_set()  # waiting for the consume loop to reconnect
            rabbitmqctl("start_app")
            publisher.join(timeout=40)
            assert published.is_set()
        consumer_bus.publish_event("test.shared.after", {"n": 3})  # once consume() returned: its own connection
    finally:
        ensure_broker_running()
        consumer_bus.close()

    received = [raw_get(events, timeout=5) for _ in range(3)]
    delete_queues([events])
    routing_keys = [message.delivery_info["routing_key"] for message in received]
    assert routing_keys == ["test.shared.before", "test.shared.during", "test.shared.after"]


# --- memory:// ----------------------------------------------------------------------------------


def test_memory_round_trip_in_one_process(memory_bus: Bus) -> None:
    queue = unique("memory")
    memory_bus.declare_run_queues([queue])
    received: list[Delivery] = []

    with consuming(memory_bus, [queue], collect(received)):
        assert memory_bus.queue_consumers(queue) == 1
        memory_bus.publish_run(b'{"x": 1}', queue, message_id="m-11")
        wait_for(lambda: received, what="the delivery")

    assert (received[0].body, received[0].queue, received[0].delivery_count) == (b'{"x": 1}', queue, 0)
    assert memory_bus.queue_consumers(queue) == 0


def test_memory_publish_to_a_missing_queue_raises_queue_not_found(memory_bus: Bus) -> None:
    with pytest.raises(QueueNotFound):
        memory_bus.publish_run(b"{}", unique("missing"), message_id="m-12")


def test_memory_publish_skips_the_consumer_check(memory_bus: Bus) -> None:
    queue = unique("memory")
    memory_bus.declare_run_queues([queue])

    memory_bus.publish_run(b"{}", queue, message_id="m-13")  # the embedded worker may start later
    assert memory_bus.queue_consumers(queue) == 0


def test_memory_events_reach_a_subscription_by_pattern(memory_bus: Bus) -> None:
    with memory_bus.subscribe(["job.result.*"]) as subscription:
        memory_bus.publish_event("job.log.info", {"n": 1})
        memory_bus.publish_event("job.result.failed", {"n": 2})

        assert subscription.get(timeout=2) == ("job.result.failed", b'{"n": 2}')
        assert subscription.get(timeout=0.2) is None


def test_memory_emulates_the_delivery_limit_and_dead_letter_exchange() -> None:
    queue = unique("memory")
    body = json.dumps({"poison": queue}).encode()
    counts: list[int] = []

    def always_fail(delivery: Delivery) -> None:
        counts.append(delivery.delivery_count)
        raise RuntimeError("poison")

    with Bus(Settings(broker_url="memory://", max_attempts=2)) as bus:
        bus.declare_run_queues([queue])
        with consuming(bus, [queue], always_fail):
            bus.publish_run(body, queue, message_id="m-14")
            dead = wait_for(lambda: memory_dead_letter(body), what="the dead letter")

    assert counts == [0, 1, 2]
    assert death_reason(dead.headers) == "delivery_limit"


def test_memory_reject_without_requeue_dead_letters_the_message(memory_bus: Bus) -> None:
    queue = unique("memory")
    body = json.dumps({"bad": queue}).encode()
    memory_bus.declare_run_queues([queue])

    with consuming(memory_bus, [queue], lambda delivery: delivery.reject(requeue=False)):
        memory_bus.publish_run(body, queue, message_id="m-16")
        dead = wait_for(lambda: memory_dead_letter(body), what="the dead letter")

    assert death_reason(dead.headers) == "rejected"
    assert dead.headers["x-first-death-queue"] == queue


def test_settling_a_delivery_twice_raises_already_settled(memory_bus: Bus) -> None:
    queue = unique("memory")
    memory_bus.declare_run_queues([queue])
    errors: list[Exception] = []

    def double_ack(delivery: Delivery) -> None:
        delivery.ack()
        try:
            delivery.ack()
        except AlreadySettled as exc:
            errors.append(exc)

    with consuming(memory_bus, [queue], double_ack):
        memory_bus.publish_run(b"{}", queue, message_id="m-15")
        wait_for(lambda: errors, what="the second ack to fail")


def test_a_busy_worker_still_counts_as_serving_its_queue_and_holds_no_other_message():
    """While a handler works the run queue has no consumer, but publishing still finds the worker."""
    from tests.rabbit import AMQP_URL, unique

    settings = Settings(broker_url=AMQP_URL)
    queue = unique("busy")
    started, release = threading.Event(), threading.Event()

    def handler(delivery):
        delivery.ack()
        started.set()
        release.wait(10)

    with Bus(settings) as bus:
        bus.declare_run_queues([queue])
        worker = threading.Thread(target=bus.consume, args=([queue], handler), kwargs={"prefetch": 1}, daemon=True)
        worker.start()
        try:
            deadline = time.monotonic() + 10
            while bus.queue_workers(queue) < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            with Bus(settings) as publisher:
                publisher.publish_run(b'{"n": 1}', queue, message_id="1")
                assert started.wait(10)
                time.sleep(0.3)
                publisher.publish_run(b'{"n": 2}', queue, message_id="2")
                time.sleep(0.3)
                assert publisher.queue_consumers(queue) == 0
                assert publisher.queue_workers(queue) == 1
                waiting = publisher._retrying(lambda channel: channel.queue_declare(queue=queue, passive=True))
                assert waiting.message_count == 1
        finally:
            release.set()
            bus.stop()
            worker.join(10)
            with Bus(settings) as cleanup:
                cleanup._retrying(lambda channel: channel.queue_delete(queue))
