"""The floor under (d): the least a bus run can cost on this machine, with no job runner at all.

A bare kombu consumer (one process, prefetch 1) takes each request from a
quorum queue, writes one row with a synchronous commit, acks, and publishes
one confirmed event; the client publishes each request confirmed, one after
the other, as both sides of (d) do. Whatever jobruntime or Celery add
(authorization, a job, logs, a result record) comes on top of these figures,
so they say how far (d)'s targets can be reached here: a throughput no
serial publisher can beat, and a latency below which no design goes.
"""

from __future__ import annotations

import json
import multiprocessing
import socket
import statistics
import time
import uuid
from typing import Any

import psycopg
from kombu import Connection, Consumer, Exchange, Producer, Queue

from benchmarks.bench_celery import BROKER_URL
from benchmarks.common import PG_BASE

RUNS = 2000
LATENCY_RUNS = 200
WARMUP_RUNS = 20
REQUESTS = Exchange("bench-floor.run", "direct", durable=True)
EVENTS = Exchange("bench-floor.events", "topic", durable=True)


def _consume(queue: Queue, ready: Any) -> None:
    """The floor's worker: insert, commit, ack, publish the event; until terminated."""
    database = psycopg.connect(f"{PG_BASE}/test")
    database.execute("CREATE TEMPORARY TABLE floor_result (id uuid PRIMARY KEY, status text)")
    database.commit()
    events = Connection(BROKER_URL, transport_options={"confirm_publish": True})
    producer = Producer(events.channel(), EVENTS)

    def on_message(message: Any) -> None:
        job_result_id = json.loads(message.body)["id"]
        database.execute("INSERT INTO floor_result VALUES (%s, 'completed')", (job_result_id,))
        database.commit()
        message.ack()
        producer.publish(json.dumps({"id": job_result_id, "status": "completed"}), routing_key="result.completed",
                         serializer=None, content_type="application/json")

    with Connection(BROKER_URL) as connection:
        channel = connection.channel()
        channel.basic_qos(0, 1, False)
        with Consumer(channel, [queue], on_message=on_message):
            ready.set()
            while True:
                try:
                    connection.drain_events(timeout=1)
                except socket.timeout:
                    pass


class _Client:
    """Publishes requests one at a time, confirmed, and receives the events."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue
        self.publishing = Connection(BROKER_URL, transport_options={"confirm_publish": True})
        self.producer = Producer(self.publishing.channel(), REQUESTS)
        self.receiving = Connection(BROKER_URL)
        self.received: list[Any] = []
        events = Queue(f"bench-floor-events-{uuid.uuid4().hex[:8]}", EVENTS, routing_key="result.*",
                       exclusive=True, auto_delete=True)
        Consumer(self.receiving.channel(), [events], on_message=self.received.append, no_ack=True).consume()

    def publish(self) -> None:
        self.producer.publish(json.dumps({"id": str(uuid.uuid4())}), routing_key=self.queue.name, mandatory=True,
                              serializer=None, content_type="application/json", delivery_mode=2)

    def wait_for(self, count: int) -> None:
        while len(self.received) < count:
            self.receiving.drain_events(timeout=30)

    def close(self) -> None:
        self.publishing.release()
        self.receiving.release()


def main(runs: int = RUNS, latency_runs: int = LATENCY_RUNS) -> dict[str, float]:
    name = f"bench-floor-{uuid.uuid4().hex[:8]}"
    queue = Queue(name, REQUESTS, routing_key=name, durable=True,
                  queue_arguments={"x-queue-type": "quorum", "x-delivery-limit": 3})
    with Connection(BROKER_URL) as connection:
        queue(connection.default_channel).declare()
    ready = multiprocessing.Event()
    worker = multiprocessing.get_context("fork").Process(target=_consume, args=(queue, ready), daemon=True)
    client = None
    try:
        client = _Client(queue)
        for _ in range(runs):  # a backlog first: the consumer's own rate, no publisher in the way
            client.publish()
        start = time.perf_counter()
        worker.start()
        client.wait_for(runs)
        backlog_rate = runs / (time.perf_counter() - start)
        if not ready.wait(30):
            raise RuntimeError("the floor's consumer never started")
        figures = {"backlog_runs_per_s": backlog_rate, **_measure(client, runs, latency_runs)}
    finally:
        worker.terminate()
        worker.join()
        if client is not None:
            client.close()
        with Connection(BROKER_URL) as connection:
            connection.default_channel.queue_delete(queue.name)
    print("Floor: bare kombu consumer, 1 INSERT + synchronous COMMIT, ack, 1 confirmed event; quorum queue,")
    print("       requests published one at a time with confirms (as in (d))")
    print(f"  confirmed publishes alone          {figures['publish_per_s']:8.0f} /s")
    print(f"  throughput ({runs} runs)           {figures['runs_per_s']:8.0f} /s")
    print(f"  consumer alone, {runs} queued runs  {figures['backlog_runs_per_s']:8.0f} /s (start-up included)")
    print(f"  publish → event latency p50 / p95  {figures['p50_ms']:8.2f} / {figures['p95_ms']:.2f} ms "
          f"(the confirmed publish alone: p50 {figures['publish_p50_ms']:.2f} ms)")
    return figures


def _measure(client: _Client, runs: int, latency_runs: int) -> dict[str, float]:
    latencies, publishes = [], []
    already = len(client.received)
    for number in range(WARMUP_RUNS + latency_runs):
        start = time.perf_counter()
        client.publish()
        published = time.perf_counter()
        client.wait_for(already + number + 1)
        if number >= WARMUP_RUNS:
            latencies.append(time.perf_counter() - start)
            publishes.append(published - start)
    already = len(client.received)
    start = time.perf_counter()
    for _ in range(runs):
        client.publish()
    published = time.perf_counter()
    client.wait_for(already + runs)
    ordered = sorted(latencies)
    return {
        "publish_per_s": runs / (published - start),
        "runs_per_s": runs / (time.perf_counter() - start),
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": ordered[round(0.95 * (len(ordered) - 1))] * 1000,
        "publish_p50_ms": statistics.median(publishes) * 1000,
    }


if __name__ == "__main__":
    main()
