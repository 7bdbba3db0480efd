"""(d) jobruntime against Celery 5 on the same RabbitMQ, results in the same PostgreSQL.

Both sides run in this one script, one after the other, on fresh databases:

1. throughput of no-op runs, one worker process each side, then two;
2. publish → result latency over sequential runs (jobruntime: until the
   result event arrives; Celery: ``AsyncResult.get``);
3. throughput of a job that writes one row and ten log lines.

jobruntime persists more per run than Celery does (a JobResult with status
history and lease, log entries, outbox events it then publishes), so the
ratios compare the cost of a useful run, not of the same bytes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from kombu import Connection
from sqlalchemy import create_engine, func, select, text

from benchmarks.common import JOBS_ROOT, drop_postgres, fresh_postgres_url, prepared_runtime
from jobruntime.bus.messages import RunRequest
from jobruntime.client import Client
from jobruntime.core.settings import Settings
from jobruntime.models import JobLogEntry, JobResult, OutboxEvent, Site, User
from jobruntime.run.auth import RUN_JOB, grant

RUNS = 2000
LATENCY_RUNS = 200
ROW_RUNS = 600  # fewer than RUNS: at ~18 jobruntime runs/s, 2,000 would push the script past 5 minutes
WARMUP_RUNS = 20
DEFAULT_INTERVAL_RUNS = 10  # Celery's default 0.5 s get() poll makes each run ~0.5 s
LATENCY_POLL = 0.001  # seconds between Celery result polls when timing one run
THROUGHPUT_POLL = 0.01  # seconds between Celery result polls while a batch drains
RESULT_TIMEOUT = 300
BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"
SIGNING_SECRET = "bench-signing-secret"
WORKER_LOG_LEVEL = "WARNING"
TERMINAL = frozenset({"completed", "failed", "errored"})
BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------- worker processes


@contextmanager
def worker_process(command: list[str], env: dict[str, str], log: Path, ready: Callable[[], bool]) -> Iterator[None]:
    """Run ``command`` until the block ends (then SIGTERM); output goes to ``log`` so a full pipe never stalls it."""
    with log.open("a") as output:
        process = subprocess.Popen(command, env={**os.environ, **env}, cwd=REPO, stdout=output, stderr=output)
    try:
        _wait_until(ready, process, f"{command[0]} worker never became ready; see {log}")
        yield
    finally:
        _terminate(process)


def _wait_until(ready: Callable[[], bool], process: subprocess.Popen, message: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{message} (exit code {process.returncode})")
        if ready():
            return
        time.sleep(0.1)
    raise TimeoutError(message)


def _terminate(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def delete_queue(name: str) -> None:
    """Remove a benchmark's task queue so repeated runs leave nothing on the broker."""
    with Connection(BROKER_URL) as connection:
        connection.default_channel.queue_delete(name)


# Broker-wide entities a Celery worker declares: remote control and events exchanges,
# and, because the task queue is a quorum queue, the native delayed-delivery
# topology (28 levels, see kombu.transport.native_delayed_delivery).
CELERY_DELAYED_LEVELS = [f"celery_delayed_{level}" for level in range(28)]
CELERY_SHARED_QUEUES = CELERY_DELAYED_LEVELS
CELERY_SHARED_EXCHANGES = [*CELERY_DELAYED_LEVELS, "celery_delayed_delivery", "celery.pidbox",
                           "reply.celery.pidbox", "celeryev"]


def absent_on_broker(queues: list[str], exchanges: list[str]) -> tuple[list[str], list[str]]:
    """The queues and exchanges not declared yet, so cleanup removes only what this run created."""
    with Connection(BROKER_URL) as connection:
        return ([name for name in queues if not _declared(connection, "queue", name)],
                [name for name in exchanges if not _declared(connection, "exchange", name)])


def _declared(connection: Connection, kind: str, name: str) -> bool:
    """A passive declare answers 404 for a missing entity and closes the channel, hence one channel each."""
    channel = connection.channel()
    try:
        if kind == "queue":
            channel.queue_declare(name, passive=True)
        else:
            channel.exchange_declare(name, "direct", passive=True)
        return True
    except connection.channel_errors:
        return False
    finally:
        try:
            channel.close()
        except connection.channel_errors + connection.connection_errors:
            pass


def delete_from_broker(queues: list[str], exchanges: list[str]) -> None:
    with Connection(BROKER_URL) as connection:
        channel = connection.default_channel
        for name in queues:
            channel.queue_delete(name)
        for name in exchanges:
            channel.exchange_delete(name)


def problems_in(log: Path) -> list[str]:
    """Lines of a worker's output that report trouble; the benchmark prints them rather than hide them."""
    words = ("Traceback", "ERROR", "CRITICAL", "Error:")
    return [line for line in log.read_text().splitlines() if any(word in line for word in words)]


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def latency_figures(samples: list[float]) -> dict[str, float]:
    return {"p50_ms": percentile(samples, 0.50) * 1000, "p95_ms": percentile(samples, 0.95) * 1000}


# ----------------------------------------------------------------------------- jobruntime side


class JobruntimeSide:
    """``jobruntime worker`` processes and one publishing Client, on a database of their own."""

    NOOP = "local/bench_jobs/NoOp"
    ROW_AND_LOGS = "local/bench_inventory/RowAndLogs"

    def __init__(self, database_url: str, home: Path) -> None:
        self.queue = f"bench-jr-{uuid.uuid4().hex[:8]}"
        self.runtime = prepared_runtime(database_url, home)
        _allow_running_jobs(self.runtime, "bench")
        self.env = {
            "JOBRUNTIME_DATABASE_URL": database_url,
            "JOBRUNTIME_BROKER_URL": BROKER_URL,
            "JOBRUNTIME_JOBS_ROOT": str(JOBS_ROOT),
            "JOBRUNTIME_DEFAULT_QUEUE": self.queue,
            "JOBRUNTIME_SIGNING_SECRET": SIGNING_SECRET,
            "JOBRUNTIME_HOME": str(home),
        }
        self.settings = Settings(
            database_url=database_url, broker_url=BROKER_URL, jobs_root=JOBS_ROOT, home=home,
            default_queue=self.queue, signing_secret=SIGNING_SECRET,
        )
        self.client = Client(self.settings, username="bench")
        self.log = home / "jobruntime-worker.log"
        self.log.touch()

    def worker(self, concurrency: int) -> AbstractContextManager[None]:
        command = [str(BIN / "jobruntime"), "worker", "-Q", self.queue, "--concurrency", str(concurrency),
                   "--log-level", WORKER_LOG_LEVEL]
        return worker_process(command, self.env, self.log, lambda: self._consumers() >= concurrency)

    def _consumers(self) -> int:
        return self.client.bus.queue_workers(self.queue)

    def request(self, job: str) -> RunRequest:
        """A signed request naming its queue, as Celery's ``apply_async(queue=...)`` does.

        Without ``task_queue`` the client looks the job's queue up in the
        database on every publish.
        """
        return self.client.request(job, commit=True, task_queue=self.queue)

    def throughput(self, kind: str, runs: int) -> float:
        """Runs per second, from the first publish to the last terminal result event."""
        job = self.NOOP if kind == "noop" else self.ROW_AND_LOGS
        with self.client.bus.subscribe(["job.result.*"]) as subscription:
            start = time.perf_counter()
            wanted = set()
            for _ in range(runs):
                request = self.request(job)
                wanted.add(str(request.job_result_id))
                self.client.publish(request)
            _drain_results(subscription, set(wanted))
            elapsed = time.perf_counter() - start
        self._check_completed(wanted)
        return runs / elapsed

    def timed_run(self) -> tuple[RunRequest, Any, float, float, float]:
        """One no-op run: request, result event, and when the publish began and returned and the event came.

        Epoch seconds, so they compare with the JobResult's own timestamps.
        """
        request = self.request(self.NOOP)
        with self.client.follow(request.job_result_id) as follower:
            start = time.time()
            self.client.publish(request)
            published = time.time()
            event = follower.wait(timeout=30)
            return request, event, start, published, time.time()

    def latency(self, runs: int) -> list[float]:
        """Seconds from publish to the terminal result event, one run at a time."""
        samples = []
        for _ in range(runs):
            _request, event, start, _published, received = self.timed_run()
            samples.append(received - start)
            if event.status != "completed":
                raise AssertionError(f"run {event.job_result_id} ended {event.status}: {event.reason}")
        return samples

    def _check_completed(self, ids: set[str]) -> None:
        """The events are not the record: the database must say every run completed."""
        keys = [uuid.UUID(value) for value in ids]
        with self.runtime.session() as session:
            done = session.scalar(
                select(func.count()).select_from(JobResult).where(JobResult.id.in_(keys), JobResult.status == "completed")
            )
        if done != len(ids):
            raise AssertionError(f"{done} of {len(ids)} JobResults are completed")

    def persisted(self) -> dict[str, int]:
        """Rows the runs left behind, to show what each side stores."""
        with self.runtime.session() as session:
            return {
                model.__tablename__: session.scalar(select(func.count()).select_from(model))
                for model in (JobResult, JobLogEntry, OutboxEvent, Site)
            }

    def close(self) -> None:
        self.client.close()
        self.runtime.engine.dispose()
        self.runtime.autocommit_engine.dispose()
        delete_queue(self.queue)


def _allow_running_jobs(runtime, username: str) -> None:
    """Grant ``run_job`` on every job: workers check permissions, which ``run_local`` does not.

    A plain user with a grant, not a superuser, so each run pays for the
    permission check a real deployment makes.
    """
    with runtime.session() as session:
        grant(session, session.scalars(select(User).where(User.username == username)).one(), RUN_JOB)
        session.commit()


def _drain_results(subscription, pending: set[str]) -> None:
    """Read result events until every id in ``pending`` has reached a terminal status."""
    deadline = time.monotonic() + RESULT_TIMEOUT
    while pending:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(pending)} runs had no terminal result event")
        message = subscription.get(timeout=1.0)
        if message is None:
            continue
        event = json.loads(message[1])
        if event.get("status") in TERMINAL:
            pending.discard(event.get("job_result_id"))


# ----------------------------------------------------------------------------- Celery side


class CelerySide:
    """``celery worker`` processes (prefork) and the publishing app, on a database of their own."""

    def __init__(self, database_url: str, home: Path) -> None:
        """Imports Celery only here: it is the optional ``bench`` extra, not a jobruntime dependency."""
        from benchmarks import celery_app

        self.module = celery_app
        self.queue = f"bench-celery-{uuid.uuid4().hex[:8]}"
        self.node = f"bench-{uuid.uuid4().hex[:8]}"
        self.database_url = database_url
        self.created_queues, self.created_exchanges = absent_on_broker(CELERY_SHARED_QUEUES, CELERY_SHARED_EXCHANGES)
        celery_app.create_tables(database_url)
        celery_app.configure(celery_app.app, database_url, self.queue)
        celery_app.pool_results_in_this_process(celery_app.app)
        self.app = celery_app.app
        self.env = {celery_app.DATABASE_ENV: database_url, celery_app.QUEUE_ENV: self.queue, "PYTHONPATH": str(REPO)}
        self.log = home / "celery-worker.log"
        self.log.touch()

    def worker(self, concurrency: int) -> AbstractContextManager[None]:
        command = [str(BIN / "celery"), "-A", "benchmarks.celery_app", "worker", "-Q", self.queue,
                   "--concurrency", str(concurrency), "--pool", "prefork", "-n", f"{self.node}@%h",
                   "--loglevel", WORKER_LOG_LEVEL, "--without-gossip", "--without-mingle"]
        return worker_process(command, self.env, self.log, self._answers_ping)

    def _answers_ping(self) -> bool:
        replies = self.app.control.ping(timeout=0.5)
        return any(name.startswith(f"{self.node}@") for reply in replies for name in reply)

    def throughput(self, kind: str, runs: int) -> float:
        """Tasks per second, from the first ``apply_async`` until every ``get()`` has returned."""
        task = self.module.noop if kind == "noop" else self.module.row_and_logs
        start = time.perf_counter()
        results = [task.apply_async(args=() if kind == "noop" else (n,), queue=self.queue) for n in range(runs)]
        for result in results:
            result.get(timeout=RESULT_TIMEOUT, interval=THROUGHPUT_POLL)
        return runs / (time.perf_counter() - start)

    def latency(self, runs: int, interval: float = LATENCY_POLL) -> list[float]:
        """Seconds from ``apply_async`` until ``get()`` returns, one task at a time."""
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            self.module.noop.apply_async(queue=self.queue).get(timeout=30, interval=interval)
            samples.append(time.perf_counter() - start)
        return samples

    def persisted(self) -> dict[str, int]:
        """Rows the tasks left behind (task results, benchmark rows, log rows)."""
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as connection:
                return {
                    table: connection.scalar(text(f"SELECT count(*) FROM {table}"))
                    for table in ("celery_taskmeta", "celery_bench_row", "celery_bench_log")
                }
        finally:
            engine.dispose()

    def close(self) -> None:
        """Release the result engine; delete the task queue, its exchange and the Celery entities this run created."""
        self.app.backend.session_manager.invalidate(self.app.backend.url)
        delete_from_broker([self.queue, *self.created_queues], [self.queue, *self.created_exchanges])


# ----------------------------------------------------------------------------- the comparison


def run_cases(side, runs: int, latency_runs: int, row_runs: int) -> dict:
    """The three cases on one side; each worker start is warmed up so imports and connects are not timed."""
    figures: dict = {}
    with side.worker(1):
        side.throughput("noop", WARMUP_RUNS)
        figures["noop_1"] = side.throughput("noop", runs)
        figures["latency"] = latency_figures(side.latency(latency_runs))
        if isinstance(side, CelerySide):
            figures["latency_default_get"] = latency_figures(side.latency(DEFAULT_INTERVAL_RUNS, interval=0.5))
        side.throughput("row", WARMUP_RUNS)
        figures["row_1"] = side.throughput("row", row_runs)
    with side.worker(2):
        side.throughput("noop", WARMUP_RUNS)
        figures["noop_2"] = side.throughput("noop", runs)
    figures["persisted"] = side.persisted()
    figures["problems"] = problems_in(side.log)
    return figures


def measure(side_class, home: Path, **counts: int) -> dict:
    """One side on a fresh database, dropped afterwards along with the side's queue."""
    url = fresh_postgres_url()
    side = None
    try:
        side = side_class(url, home)
        return run_cases(side, **counts)
    finally:
        if side is not None:
            side.close()
        drop_postgres(url)


def print_configuration(runs: int, latency_runs: int, row_runs: int) -> None:
    import celery

    print("Configuration (same machine, same RabbitMQ 127.0.0.1:5672, same PostgreSQL 127.0.0.1:5432):")
    settings = Settings()  # the workers' own, from the environment
    print("  jobruntime: `jobruntime worker --concurrency N` (supervisor + N worker processes), "
          f"prefetch {settings.prefetch}, batches of {settings.batch_size} runs or {settings.batch_time * 1000:g} ms,")
    print(f"              claim-then-ack, quorum run queue, confirmed publishes, log level {WORKER_LOG_LEVEL}")
    print(f"  Celery {celery.__version__}: --pool prefork --concurrency N (also for N=1), task_acks_late=True,")
    print(f"              worker_prefetch_multiplier=1, quorum queue, confirm_publish=True, log level {WORKER_LOG_LEVEL},")
    print(f"              result_backend=db+postgresql+psycopg (database_engine_options={_engine_options()}),")
    print(f"              get() poll interval {LATENCY_POLL * 1000:g} ms (latency) / {THROUGHPUT_POLL * 1000:g} ms (batches)")
    print(f"  runs: {runs} no-op per throughput case, {latency_runs} sequential for latency, "
          f"{row_runs} row+10-log runs; {WARMUP_RUNS} warm-up runs after each worker start")


def _engine_options() -> dict:
    from benchmarks.celery_app import ENGINE_OPTIONS

    return ENGINE_OPTIONS


def print_table(ours: dict, celery: dict, runs: int, latency_runs: int, row_runs: int) -> None:
    rows = [
        (f"no-op runs/s, 1 worker process (n={runs})", ours["noop_1"], celery["noop_1"], False),
        (f"no-op runs/s, 2 worker processes (n={runs})", ours["noop_2"], celery["noop_2"], False),
        (f"latency p50, ms (n={latency_runs} sequential)", ours["latency"]["p50_ms"], celery["latency"]["p50_ms"], True),
        (f"latency p95, ms (n={latency_runs} sequential)", ours["latency"]["p95_ms"], celery["latency"]["p95_ms"], True),
        (f"row + 10 logs runs/s, 1 process (n={row_runs})", ours["row_1"], celery["row_1"], False),
    ]
    print(f"\n{'case':<46}{'jobruntime':>12}{'Celery':>12}{'ratio':>9}")
    for label, mine, theirs, lower_is_better in rows:
        ratio = theirs / mine if lower_is_better else mine / theirs
        print(f"{label:<46}{mine:>12.2f}{theirs:>12.2f}{ratio:>8.2f}x")
    print("ratio: jobruntime/Celery for throughput, Celery/jobruntime for latency (> 1 = jobruntime faster)")
    default = celery["latency_default_get"]
    print(f"Celery with get()'s default 0.5 s poll ({DEFAULT_INTERVAL_RUNS} runs): "
          f"p50 {default['p50_ms']:.1f} ms, p95 {default['p95_ms']:.1f} ms")


def print_aftermath(ours: dict, celery: dict) -> None:
    print(f"rows stored: jobruntime {ours['persisted']}; Celery {celery['persisted']}")
    for name, figures in (("jobruntime", ours), ("Celery", celery)):
        problems = figures["problems"]
        print(f"{name} worker problems: {len(problems) or 'none'}")
        for line in problems[:10]:
            print(f"  {line}")


def main(runs: int = RUNS, latency_runs: int = LATENCY_RUNS, row_runs: int = ROW_RUNS) -> dict[str, dict]:
    counts = {"runs": runs, "latency_runs": latency_runs, "row_runs": row_runs}
    print_configuration(**counts)
    with tempfile.TemporaryDirectory() as home:
        ours = measure(JobruntimeSide, Path(home), **counts)
        celery = measure(CelerySide, Path(home), **counts)
        print_table(ours, celery, **counts)
        print_aftermath(ours, celery)
    return {"jobruntime": ours, "celery": celery}


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS, help="no-op runs per throughput case")
    parser.add_argument("--latency-runs", type=int, default=LATENCY_RUNS)
    parser.add_argument("--row-runs", type=int, default=ROW_RUNS, help="runs of the row + 10 log lines case")
    arguments = parser.parse_args()
    main(arguments.runs, arguments.latency_runs, arguments.row_runs)
