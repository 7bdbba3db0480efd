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

The models floor (kind ``row_models``) is the same batched consumer running the one-row
job's own code instead of its SQL: ``OneRow.run`` on jobruntime's models layer
(``Status.objects.get``, ``Site(...).validated_save()`` with full_clean, the uniqueness check
and the flush), its change log written as a run writes it, and the run's JobResult row and
result event written by the worker's deciding write (``decide_run``), all in one relaxed
transaction on a fresh migrated jobruntime database (``benchmarks.job_code``); per batch,
``flush_commits``. Profiles put most of a one-row run in that code, so the bare-SQL floor
says nothing of what the job's code costs: this one is the least a runner of that job can
do, with no authorization, no claim, no log machinery and no relay, and what the one-row
drain adds above it is the runner's.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import socket
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from kombu import Connection, Consumer, Exchange, Producer, Queue

from benchmarks.bench_celery import BROKER_URL
from benchmarks.common import PG_BASE, drop_postgres, fresh_postgres_url, prepared_runtime
from benchmarks.job_code import ONE_ROW, OneRowJob
from jobruntime.authoring.records import lookup_record
from jobruntime.bus.topology import publish_messages
from jobruntime.core.clock import utcnow
from jobruntime.core.settings import Settings
from jobruntime.core.statuses import COMPLETED
from jobruntime.models import JobResult
from jobruntime.run.claim import RunClaim
from jobruntime.run.claim_statements import decide_run
from jobruntime.run.events import result_event_row
from jobruntime.run.runtime import Runtime
from jobruntime.store.database import flush_commits
from jobruntime.store.prebuilt import DriverConnection, as_model, transaction

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


SQL_KINDS = {"noop": _run_noop, "row": _run_row}
MODELS_KIND = "row_models"
KINDS = (*SQL_KINDS, MODELS_KIND)
Message = tuple[bytes, str, str, str | None]  # body, exchange, routing key, message id: what publish_messages sends


class _BareSQL:
    """Runs of a bare-SQL kind on one connection to ``test``, on TEMPORARY tables, each committed relaxed."""

    def __init__(self, statements: Callable[[psycopg.Cursor, str], list[tuple[str, str]]]) -> None:
        self.statements = statements
        # Relaxed commits set on the connection, as jobruntime's relaxed pool does: no SET per run.
        self.database = psycopg.connect(f"{PG_BASE}/test", options="-c synchronous_commit=off")
        for statement in TABLES:
            self.database.execute(statement)
        self.database.commit()

    def run(self, job_result_id: str) -> list[Message]:
        with self.database.transaction(), self.database.cursor() as cursor:
            return [(body.encode(), EVENTS.name, routing_key, None)
                    for routing_key, body in self.statements(cursor, job_result_id)]

    def flush(self) -> None:
        with self.database.transaction():
            self.database.execute(FLUSH_COMMITS)


class _ModelsLayer:
    """Runs of the one-row job's code on jobruntime's models layer (``job_code``), on a migrated database.

    Each run is decided as a worker decides a short one: its JobResult row, claimed and decided
    at once, and the row's event, written by ``decide_run`` in the job's transaction, which
    commits relaxed (``Runtime.from_settings(relaxed=True)``, as a worker's batches do).
    """

    def __init__(self, settings: Settings, queue: str) -> None:
        self.runtime = Runtime.from_settings(settings, events=True, relaxed=True)
        self.job = OneRowJob(self.runtime)
        self.queue = queue
        self.worker = f"bench-floor-{os.getpid()}"
        with transaction(self.runtime.autocommit_engine) as db:
            self.record = lookup_record(db, ONE_ROW)

    def run(self, job_result_id: str) -> list[Message]:
        user = self.job.user
        # The row as a worker sees a run it has not claimed: its RunClaim's snapshot of the request's values.
        row = RunClaim(self.runtime.engine, {
            "id": uuid.UUID(job_result_id), "name": ONE_ROW, "job_model_id": self.record.id, "user_id": user.id,
            "task_queue": self.queue, "job_kwargs": {"data": {}, "commit": True, "task_queue": self.queue},
        }, worker=self.worker, lease_seconds=self.runtime.settings.lease_seconds, events=(),
            on_claimed=lambda _claim: None).snapshot()

        def decide(db: DriverConnection) -> list[dict[str, Any]]:
            decided = {**row, "verdict": None, "status": COMPLETED, "data": {"output": ""}, "completed": utcnow()}
            event = result_event_row(decided, username=user.username)
            decide_run(db, decided, event)
            return [event]

        events = self.job.run(as_model(JobResult, row, job_model=self.record, user=user), decide)
        return [(json.dumps(event["body"]).encode(), EVENTS.name, event["routing_key"], str(event["id"]))
                for event in events]

    def flush(self) -> None:
        flush_commits(self.runtime.engine)


def _consume_batched(queue: Queue, make_runs: Callable[[], _BareSQL | _ModelsLayer]) -> None:
    """The batched floor's worker: relaxed commits per run, one flush, one confirm wait, one ack per batch."""
    runs = make_runs()
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
                    outgoing += runs.run(json.loads(message.body)["id"])
                runs.flush()
                publish_messages(events_channel, outgoing)
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
        # result.<status> from the bare consumers, job.result.<status> from the job's code on the models layer
        events = Queue(f"bench-floor-events-{uuid.uuid4().hex[:8]}", EVENTS, routing_key="#.result.*",
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


@contextmanager
def _runs_of(kind: str, queue: Queue) -> Iterator[Callable[[], _BareSQL | _ModelsLayer]]:
    """What each consumer process makes to run ``kind``: its bare SQL on ``test``, or the job's code on a fresh
    jobruntime database (migrated, jobs synced, user "bench"), dropped afterwards."""
    if kind in SQL_KINDS:
        yield functools.partial(_BareSQL, SQL_KINDS[kind])
        return
    url = fresh_postgres_url()
    try:
        with tempfile.TemporaryDirectory() as home:
            runtime = prepared_runtime(url, Path(home))
            runtime.engine.dispose()
            runtime.autocommit_engine.dispose()
            yield functools.partial(_ModelsLayer, runtime.settings, queue.name)
    finally:
        drop_postgres(url)


def batched_drain(kind: str, processes: int, runs: int = RUNS) -> float:
    """The batched floor of one drain kind: runs/s of ``processes`` bare consumers draining ``runs`` queued runs."""
    queue = _declare_queue()
    client = None
    try:
        with _runs_of(kind, queue) as make_runs:
            workers = [multiprocessing.get_context("fork").Process(target=_consume_batched, args=(queue, make_runs),
                                                                   daemon=True)
                       for _ in range(processes)]
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
    finally:
        if client is not None:
            client.close()
        _delete_queue(queue)


def batched_floors(runs: int = RUNS) -> dict[str, float]:
    """The batched floor of each drain kind, keyed as bench_drain's rows are (``noop_1`` ... ``row_models_2``)."""
    figures = {f"{kind}_{processes}": batched_drain(kind, processes, runs) for kind in KINDS for processes in (1, 2)}
    print(f"Batched floor: bare kombu consumers, prefetch {PREFETCH}, batches of {BATCH_SIZE} runs or "
          f"{BATCH_TIME * 1000:g} ms; relaxed commit per run, one flush, one confirm wait, one ack per batch")
    for key, rate in figures.items():
        print(f"  {key:<12} drain of {runs} queued runs  {rate:8.0f} /s")
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
