"""Draining a backlog: jobruntime against Celery 5 when thousands of runs are queued at once.

Job hooks turn one bulk change into thousands of run requests, and schedules
fire in bursts: what users then wait for is how fast the backlog drains. Each
side, on a fresh database and the same RabbitMQ:

1. the whole backlog (2,000 no-op runs, then 2,000 runs of a job creating one
   row) is published while no worker consumes the queue, then the workers
   start (1 process, then 2), and the drain is timed from the 20th stored result
   to the last (so process start-up and first imports are not timed), by
   polling the database both sides store their results in; Celery's one-row task
   is one Core INSERT, so Celery also drains 2,000 runs of ``one_row_models``,
   the one-row job's own code on jobruntime's models layer (``job_code``), to
   set against jobruntime's one-row drain: the same job code on each runner;
2. publish → result latency of a lone run (sequential runs, a worker idle).

The floor (``bench_floor``) is printed beside them: for the drain rows its
batched floor (bare consumers batching as the workers do: relaxed commit per
run, one flush, one confirm wait and one ack per batch; for the one-row rows both
its bare-SQL floor and its models floor, the job's code run by that consumer), for the latency rows
its bare consumer doing one commit, one ack and one confirmed event per run. Worker settings come from the
environment, so ``JOBRUNTIME_PREFETCH=16 python -m benchmarks.bench_drain``
measures another configuration.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kombu import Connection, Queue
from sqlalchemy import create_engine, func, select, text

from benchmarks import bench_floor
from benchmarks.bench_celery import (
    BIN,
    BROKER_URL,
    REPO,
    WORKER_LOG_LEVEL,
    CelerySide,
    JobruntimeSide,
    _terminate,
    latency_figures,
    problems_in,
)
from benchmarks.common import drop_postgres, fresh_postgres_url, prepared_runtime
from benchmarks.job_code import ONE_ROW
from jobruntime.client import Client
from jobruntime.core.settings import Settings
from jobruntime.core.statuses import TERMINAL_STATUSES
from jobruntime.models import JobResult, ObjectChange, Site

RUNS = 2000
LATENCY_RUNS = 200
WARMUP_RUNS = 20
TIMED_FROM = 20  # results stored before the clock starts: worker start-up and first imports are not the drain
POLL = 0.01  # seconds between counts of stored results
DRAIN_TIMEOUT = 300
KINDS = ("noop", "row")
CONCURRENCIES = (1, 2)
MODELS_KIND = bench_floor.MODELS_KIND  # the one-row job's code on the models layer: a Celery drain, and a floor


def _drain(count_stored: Callable[[], int], start_workers: Callable[[], subprocess.Popen], runs: int) -> float:
    """Runs per second from the ``TIMED_FROM``-th newly stored result to the last, with the workers started now."""
    before = count_stored()
    process = start_workers()
    try:
        deadline = time.monotonic() + DRAIN_TIMEOUT
        started = None
        while True:
            stored = count_stored() - before
            now = time.perf_counter()
            if started is None and stored >= TIMED_FROM:
                started, at_start = now, stored
            if stored >= runs:
                return (stored - at_start) / (now - started)
            if process.poll() is not None:
                raise RuntimeError(f"the workers exited ({process.returncode}) with {stored} of {runs} results stored")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{stored} of {runs} results stored after {DRAIN_TIMEOUT} s")
            time.sleep(POLL)
    finally:
        _terminate(process)


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("a") as output:
        return subprocess.Popen(command, env={**os.environ, **env}, cwd=REPO, stdout=output, stderr=output)


class JobruntimeDrain(JobruntimeSide):
    """The jobruntime side of (d), publishing while no worker consumes its queue."""

    KINDS = KINDS

    def __init__(self, database_url: str, home: Path) -> None:
        super().__init__(database_url, home)
        self.client.close()
        self.settings = dataclasses.replace(self.settings, check_consumers=False)
        self.client = Client(self.settings, username="bench")
        self.client.bus.declare_run_queues([self.queue])

    def drain(self, kind: str, runs: int, concurrency: int) -> float:
        job = self.NOOP if kind == "noop" else ONE_ROW
        for _ in range(runs):
            self.client.publish(self.request(job))
        command = [str(BIN / "jobruntime"), "worker", "-Q", self.queue, "--concurrency", str(concurrency),
                   "--log-level", WORKER_LOG_LEVEL]
        return _drain(self._stored, lambda: _spawn(command, self.env, self.log), runs)

    def _stored(self) -> int:
        with self.runtime.session(autocommit=True) as session:
            return session.scalar(
                select(func.count()).select_from(JobResult).where(JobResult.status.in_(TERMINAL_STATUSES))
            )


class CeleryDrain(CelerySide):
    """The Celery side, publishing to its (declared) quorum queue while no worker consumes it.

    Its database holds jobruntime's schema too (migrated, jobs synced, user "bench"), for ``one_row_models``.
    """

    KINDS = (*KINDS, MODELS_KIND)

    def __init__(self, database_url: str, home: Path) -> None:
        super().__init__(database_url, home)
        self.runtime = prepared_runtime(database_url, home)
        with Connection(BROKER_URL) as connection:
            Queue(self.queue, routing_key=self.queue, queue_arguments={"x-queue-type": "quorum"})(
                connection.default_channel).declare()
        self.engine = create_engine(database_url, pool_size=1, max_overflow=0)

    def drain(self, kind: str, runs: int, concurrency: int) -> float:
        task = {"noop": self.module.noop, "row": self.module.one_row, MODELS_KIND: self.module.one_row_models}[kind]
        for number in range(runs):
            task.apply_async(args=(number,) if kind == "row" else (), queue=self.queue)
        command = [str(BIN / "celery"), "-A", "benchmarks.celery_app", "worker", "-Q", self.queue,
                   "--concurrency", str(concurrency), "--pool", "prefork", "-n", f"{self.node}@%h",
                   "--loglevel", WORKER_LOG_LEVEL, "--without-gossip", "--without-mingle"]
        return _drain(self._stored, lambda: _spawn(command, self.env, self.log), runs)

    def _stored(self) -> int:
        with self.engine.connect() as connection:
            return connection.scalar(text("SELECT count(*) FROM celery_taskmeta WHERE status = 'SUCCESS'"))

    def persisted(self) -> dict[str, int]:
        """Celery's rows, and the rows ``one_row_models`` left in jobruntime's tables."""
        with self.engine.connect() as connection:
            return {**super().persisted(), **{
                model.__tablename__: connection.scalar(select(func.count()).select_from(model))
                for model in (Site, ObjectChange)
            }}

    def close(self) -> None:
        self.engine.dispose()
        self.runtime.engine.dispose()
        self.runtime.autocommit_engine.dispose()
        super().close()


def run_cases(side, runs: int, latency_runs: int) -> dict:
    figures: dict = {}
    for kind in side.KINDS:
        for concurrency in CONCURRENCIES:
            figures[f"{kind}_{concurrency}"] = side.drain(kind, runs, concurrency)
    with side.worker(1):
        side.latency(WARMUP_RUNS)
        figures["latency"] = latency_figures(side.latency(latency_runs))
    figures["persisted"] = side.persisted()
    figures["problems"] = problems_in(side.log)
    return figures


def measure(side_class, home: Path, runs: int, latency_runs: int) -> dict:
    url = fresh_postgres_url()
    side = None
    try:
        side = side_class(url, home)
        return run_cases(side, runs, latency_runs)
    finally:
        if side is not None:
            side.close()
        drop_postgres(url)


def print_table(ours: dict, celery: dict | None, floor: dict | None, runs: int, latency_runs: int) -> None:
    names = {"noop": "no-op", "row": "one-row"}
    print(f"\n{'case':<54}{'jobruntime':>12}{'Celery':>10}{'ratio':>8}{'floor':>14}")
    for kind in KINDS:
        for concurrency in CONCURRENCIES:
            key = f"{kind}_{concurrency}"
            label = f"{names[kind]} drain runs/s, {concurrency} process{'es' if concurrency > 1 else ''} (n={runs})"
            _row(label, ours[key], celery and celery[key], _drain_floor(floor, kind, concurrency), False)
    for concurrency in CONCURRENCIES if celery is not None else ():
        _row(f"one-row (same job code on Celery) runs/s, {concurrency} process{'es' if concurrency > 1 else ''}",
             ours[f"row_{concurrency}"], celery[f"{MODELS_KIND}_{concurrency}"],
             _drain_floor(floor, "row", concurrency), False)
    for name in ("p50", "p95"):
        _row(f"lone run publish -> result {name}, ms (n={latency_runs})", ours["latency"][f"{name}_ms"],
             celery and celery["latency"][f"{name}_ms"], "" if floor is None else f"{floor[f'{name}_ms']:.2f}", True)
    print("ratio: jobruntime/Celery for throughput, Celery/jobruntime for latency (> 1 = jobruntime faster);")
    print("same job code on Celery: jobruntime's one-row drain against Celery's one_row_models, the")
    print(f"       one-row job's code on jobruntime's models layer (n={runs});")
    print("floor: drain rows, bench_floor's batched floor (bare consumers, prefetch 32, batches of 32")
    print("       runs or 20 ms), for one-row rows bare SQL / models (the job's code on the models layer);")
    print("       latency rows, its bare consumer (1 process, prefetch 1)")
    for name, figures in (("jobruntime", ours), ("Celery", celery)):
        if figures is None:
            continue
        print(f"{name}: rows stored {figures['persisted']}; worker problems: {len(figures['problems']) or 'none'}")
        for line in figures["problems"][:10]:
            print(f"  {line}")


def _drain_floor(floor: dict | None, kind: str, concurrency: int) -> str:
    """A drain row's floor: the batched floor of its kind; for one-row, the bare-SQL floor and the models floor."""
    if floor is None:
        return ""
    batched = floor["batched"]
    if kind == "noop":
        return f"{batched[f'noop_{concurrency}']:.2f}"
    return f"{batched[f'row_{concurrency}']:.0f} / {batched[f'{MODELS_KIND}_{concurrency}']:.0f}"


def _row(label: str, mine: float, theirs: float | None, floor: str, lower_is_better: bool) -> None:
    ratio = "" if theirs is None else f"{(theirs / mine if lower_is_better else mine / theirs):7.2f}x"
    print(f"{label:<54}{mine:>12.2f}{'' if theirs is None else f'{theirs:10.2f}':>10}{ratio:>8}{floor:>14}")


def main(runs: int = RUNS, latency_runs: int = LATENCY_RUNS, *, celery: bool = True, floor: bool = True) -> dict:
    settings = Settings()  # the workers' own, from the environment
    print(f"Drain of {runs} queued runs per case, workers started after the backlog was published; jobruntime "
          f"workers: prefetch {settings.prefetch}, batches of {settings.batch_size} runs or "
          f"{settings.batch_time * 1000:g} ms; Celery 5: prefork, acks_late, prefetch multiplier 1, database backend")
    with tempfile.TemporaryDirectory() as home:
        ours = measure(JobruntimeDrain, Path(home), runs, latency_runs)
        theirs = measure(CeleryDrain, Path(home), runs, latency_runs) if celery else None
    floor_figures = {**bench_floor.main(), "batched": bench_floor.batched_floors(runs)} if floor else None
    print_table(ours, theirs, floor_figures, runs, latency_runs)
    return {"jobruntime": ours, "celery": theirs, "floor": floor_figures}


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS, help="queued runs per drain case")
    parser.add_argument("--latency-runs", type=int, default=LATENCY_RUNS)
    parser.add_argument("--no-celery", action="store_true", help="measure jobruntime alone (a quicker comparison)")
    parser.add_argument("--no-floor", action="store_true")
    arguments = parser.parse_args()
    main(arguments.runs, arguments.latency_runs, celery=not arguments.no_celery, floor=not arguments.no_floor)
