"""The floor under (d): the least a bus run can cost on this machine, with no job runner at all.

A bare kombu consumer (one process, prefetch 1) takes each request from a
quorum queue, writes one row with a synchronous commit, acks, and publishes
one confirmed event; the client publishes each request confirmed, one after
the other, as both sides of (d) do. Whatever jobruntime or Celery add
(authorization, a job, logs, a result record) comes on top of these figures,
so they say how far (d)'s targets can be reached here: a throughput no
serial publisher can beat, and a latency below which no design goes.

The batched floor (``batched_drain``) is the least a *batched* backlog drain can
cost, as jobruntime's workers drain one: 2,000 requests queued first, then the
consumer processes start (prefetch 32); rate from the 20th result event to the
last. Per run: its own transaction, committed with ``synchronous_commit = off``
(set on the connection, as jobruntime's relaxed pool does), holding the
statements jobruntime's worker issues for that run kind, minus its own lookups
(custom fields, job hooks): no-op, one statement inserting the result row and
its event's outbox row; one-row, SELECT the Status by slug, one SELECT checking
the Site's unique name and slug, INSERT the site, its change-log row and the
change event's outbox row, then the result statement. Per batch (32 runs, 20 ms, or nothing waiting): one
synchronous commit flushing the WAL (as ``flush_commits``), the batch's events
published with one confirm wait, one ``basic.ack(multiple=True)``.
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
from jobruntime.bus.topology import publish_messages

RUNS = 2000
LATENCY_RUNS = 200
WARMUP_RUNS = 20
REQUESTS = Exchange("bench-floor.run", "direct", durable=True)
EVENTS = Exchange("bench-floor.events", "topic", durable=True)
PREFETCH = 32
BATCH_SIZE = 32
BATCH_TIME = 0.02
# A synchronous commit that writes WAL (a read-only one would not wait for the flush): every relaxed commit
# before it is durable once it returns, as with jobruntime's flush_commits.
FLUSH_COMMITS = "SELECT set_config('synchronous_commit', 'on', true), pg_logical_emit_message(true, 'floor', '')"
TABLES = (
    "CREATE TEMPORARY TABLE floor_result (id uuid PRIMARY KEY, status text)",
    "CREATE TEMPORARY TABLE floor_outbox (id bigserial PRIMARY KEY, routing_key text, body text)",
    "CREATE TEMPORARY TABLE floor_status (id serial PRIMARY KEY, slug text UNIQUE)",
    "CREATE TEMPORARY TABLE floor_site (id uuid PRIMARY KEY, name text UNIQUE, slug text UNIQUE, status_id int)",
    "CREATE TEMPORARY TABLE floor_changelog (id bigserial PRIMARY KEY, object_id uuid, action text, data text)",
    "INSERT INTO floor_status (slug) VALUES ('active')",
)


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


def _run_noop(cursor: psycopg.Cursor, job_result_id: str) -> list[tuple[str, str]]:
    """A run's result row and its event's outbox row, in one statement as jobruntime writes them."""
    body = json.dumps({"id": job_result_id, "status": "completed"})
    cursor.execute("WITH decided AS (INSERT INTO floor_result VALUES (%s, 'completed') RETURNING id) "
                   "INSERT INTO floor_outbox (routing_key, body) SELECT 'result.completed', %s FROM decided",
                   (job_result_id, body))
    return [("result.completed", body)]


def _run_row(cursor: psycopg.Cursor, job_result_id: str) -> list[tuple[str, str]]:
    """A one-row run's rows with Nautobot semantics: status lookup, uniqueness check, site, change log, outbox."""
    cursor.execute("SELECT id FROM floor_status WHERE slug = 'active'")
    (status_id,) = cursor.fetchone()
    name = f"site-{job_result_id}"
    cursor.execute("SELECT EXISTS (SELECT 1 FROM floor_site WHERE name = %s), "
                   "EXISTS (SELECT 1 FROM floor_site WHERE slug = %s)", (name, name))
    site_id = str(uuid.uuid4())
    cursor.execute("INSERT INTO floor_site VALUES (%s, %s, %s, %s)", (site_id, name, name, status_id))
    change = json.dumps({"id": site_id, "name": name, "action": "create"})
    cursor.execute("INSERT INTO floor_changelog (object_id, action, data) VALUES (%s, 'create', %s)", (site_id, change))
    cursor.execute("INSERT INTO floor_outbox (routing_key, body) VALUES ('change.site', %s)", (change,))
    return [("change.site", change), *_run_noop(cursor, job_result_id)]


RUN_KINDS = {"noop": _run_noop, "row": _run_row}


def _consume_batched(queue: Queue, kind: str) -> None:
    """The batched floor's worker: relaxed commits per run, one flush, one confirm wait, one ack per batch."""
    run = RUN_KINDS[kind]
    # Relaxed commits set on the connection, as jobruntime's relaxed pool does: no SET per run.
    database = psycopg.connect(f"{PG_BASE}/test", options="-c synchronous_commit=off")
    for statement in TABLES:
        database.execute(statement)
    database.commit()
    events = Connection(BROKER_URL, transport_options={"confirm_publish": True})
    events_channel = events.channel()
    pending: list[Any] = []
    with Connection(BROKER_URL) as connection:
        channel = connection.channel()
        channel.basic_qos(0, PREFETCH, False)
        with Consumer(channel, [queue], on_message=pending.append):
            while True:
                try:
                    connection.drain_events(timeout=1)
                except socket.timeout:
                    continue
                deadline = time.monotonic() + BATCH_TIME
                while len(pending) < BATCH_SIZE and (left := deadline - time.monotonic()) > 0:
                    try:
                        connection.drain_events(timeout=left)
                    except socket.timeout:
                        break  # nothing waiting: close the batch now
                outgoing = []
                for message in pending:
                    with database.transaction(), database.cursor() as cursor:
                        outgoing += run(cursor, json.loads(message.body)["id"])
                with database.transaction():
                    database.execute(FLUSH_COMMITS)
                publish_messages(events_channel, [(body.encode(), EVENTS.name, routing_key, None)
                                                  for routing_key, body in outgoing])
                channel.basic_ack(pending[-1].delivery_tag, multiple=True)
                pending.clear()


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

    def drain_rate(self, runs: int) -> float:
        """Runs per second from the 20th result event to the last (start-up not timed)."""
        self.wait_for(WARMUP_RUNS)
        start, first = time.perf_counter(), len(self.received)
        self.wait_for(runs)
        return (runs - first) / (time.perf_counter() - start)

    def close(self) -> None:
        self.publishing.release()
        self.receiving.release()


def _declare_queue() -> Queue:
    name = f"bench-floor-{uuid.uuid4().hex[:8]}"
    queue = Queue(name, REQUESTS, routing_key=name, durable=True,
                  queue_arguments={"x-queue-type": "quorum", "x-delivery-limit": 3})
    with Connection(BROKER_URL) as connection:
        queue(connection.default_channel).declare()
    return queue


def _delete_queue(queue: Queue) -> None:
    with Connection(BROKER_URL) as connection:
        connection.default_channel.queue_delete(queue.name)


def batched_drain(kind: str, processes: int, runs: int = RUNS) -> float:
    """The batched floor of one drain kind: runs/s of ``processes`` bare consumers draining ``runs`` queued runs."""
    queue = _declare_queue()
    workers = [multiprocessing.get_context("fork").Process(target=_consume_batched, args=(queue, kind), daemon=True)
               for _ in range(processes)]
    client = None
    try:
        client = _Client(queue)
        for _ in range(runs):
            client.publish()
        for worker in workers:
            worker.start()
        return client.drain_rate(runs)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
                worker.join()
        if client is not None:
            client.close()
        _delete_queue(queue)


def batched_floors(runs: int = RUNS) -> dict[str, float]:
    """The batched floor of each drain row bench_drain prints, keyed as its rows are (``noop_1`` ...)."""
    figures = {f"{kind}_{processes}": batched_drain(kind, processes, runs) for kind in RUN_KINDS for processes in (1, 2)}
    print(f"Batched floor: bare kombu consumers, prefetch {PREFETCH}, batches of {BATCH_SIZE} runs or "
          f"{BATCH_TIME * 1000:g} ms; relaxed commit per run, one flush, one confirm wait, one ack per batch")
    for key, rate in figures.items():
        print(f"  {key:<8} drain of {runs} queued runs  {rate:8.0f} /s")
    return figures


def main(runs: int = RUNS, latency_runs: int = LATENCY_RUNS) -> dict[str, float]:
    queue = _declare_queue()
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
        _delete_queue(queue)
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
    batched_floors()
