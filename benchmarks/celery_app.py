"""The Celery side of ``bench_celery``: a Celery 5 app on the same RabbitMQ, results in PostgreSQL.

The worker process (``celery -A benchmarks.celery_app worker``) and the
benchmark script import this module; both read the database URL and the queue
from the environment (``CELERY_BENCH_DATABASE_URL``, ``CELERY_BENCH_QUEUE``),
so the worker needs no other configuration file. ``one_row_models`` also needs
jobruntime's schema in that database (``common.prepared_runtime``).
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timezone

import sqlalchemy as sa
from celery import Celery
from kombu import Queue

from benchmarks.common import JOBS_ROOT
from benchmarks.job_code import ONE_ROW, OneRowJob
from jobruntime.core.settings import Settings
from jobruntime.models import JobResult
from jobruntime.run.runtime import Runtime
from jobruntime.store.prebuilt import as_model

BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"
DATABASE_ENV = "CELERY_BENCH_DATABASE_URL"
QUEUE_ENV = "CELERY_BENCH_QUEUE"
LOG_LINES = 10

# A pooled engine for the result backend. Pre-ping is off because jobruntime's
# engine does not ping either: each checkout would otherwise cost a round trip.
ENGINE_OPTIONS = {"pool_size": 5, "max_overflow": 0, "pool_pre_ping": False, "pool_recycle": 3600}

metadata = sa.MetaData()
row_table = sa.Table(
    "celery_bench_row", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("task_id", sa.String(36), nullable=False),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("created", sa.DateTime(timezone=True), nullable=False),
)
log_table = sa.Table(
    "celery_bench_log", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
    sa.Column("task_id", sa.String(36), nullable=False, index=True),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("created", sa.DateTime(timezone=True), nullable=False),
)


def configure(celery: Celery, database_url: str, queue: str) -> None:
    """Settings of the comparison: acks_late, prefetch 1, confirmed publishes, a quorum queue.

    The queue is quorum and publishes are confirmed because jobruntime's run
    queues and publishes are, so both sides give the same delivery guarantee.
    The engine options go under ``database_engine_options``, the Celery 5 name
    of the setting (``result_engine_options`` is not a recognised key and
    would be ignored).
    """
    celery.conf.update(
        broker_url=BROKER_URL,
        broker_transport_options={"confirm_publish": True},
        result_backend=f"db+{database_url}",
        database_engine_options=ENGINE_OPTIONS,
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        task_queues=[Queue(queue, routing_key=queue, queue_arguments={"x-queue-type": "quorum"})],
        task_default_queue=queue,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )


app = Celery("celery_bench")
if os.environ.get(DATABASE_ENV) and os.environ.get(QUEUE_ENV):
    configure(app, os.environ[DATABASE_ENV], os.environ[QUEUE_ENV])


def pool_results_in_this_process(celery: Celery) -> None:
    """Give this (unforked) process the pooled result engine Celery gives prefork children.

    Celery's database backend pools connections only after a fork; elsewhere
    it uses NullPool, so every ``AsyncResult.get`` poll in the publisher would
    open a new PostgreSQL connection. Calling the same after-fork hook the
    workers get keeps the comparison about the runtimes, not about connects.
    """
    celery.backend.session_manager._after_fork()


def create_tables(database_url: str) -> None:
    """The two tables ``row_and_logs`` writes, created before any worker starts."""
    engine = sa.create_engine(database_url)
    metadata.create_all(engine)
    engine.dispose()


_engine: sa.Engine | None = None


def _task_engine() -> sa.Engine:
    """One pooled engine per worker process, created after the fork so no connection is shared."""
    global _engine
    if _engine is None:
        _engine = sa.create_engine(os.environ[DATABASE_ENV], pool_size=2, max_overflow=0)
    return _engine


_one_row_job: OneRowJob | None = None


def _job_code() -> OneRowJob:
    """The one-row job's code, loaded once per worker process after the fork, on an engine of its own.

    Events are on, as in a jobruntime worker, so the change log writes the same rows (its
    outbox rows stay unpublished: Celery has no relay).
    """
    global _one_row_job
    if _one_row_job is None:
        settings = Settings(database_url=os.environ[DATABASE_ENV], jobs_root=JOBS_ROOT)
        _one_row_job = OneRowJob(Runtime.from_settings(settings, events=True))
    return _one_row_job


@app.task
def noop() -> None:
    return None


@app.task(bind=True)
def one_row(self, n: int) -> None:
    """One row in one transaction: the Celery twin of jobruntime's ``OneRow`` job (benchmarks.bench_drain)."""
    task_id = self.request.id
    with _task_engine().begin() as connection:
        connection.execute(row_table.insert().values(task_id=task_id, name=f"bench-{n}-{task_id}", created=_now()))


@app.task(bind=True)
def one_row_models(self) -> None:
    """jobruntime's ``OneRow`` job's own code in one transaction on jobruntime's models layer (``job_code``)."""
    _job_code().run(as_model(JobResult, {"id": uuid.UUID(self.request.id), "name": ONE_ROW}))


@app.task(bind=True)
def row_and_logs(self, n: int) -> None:
    """One row and ten log rows in one transaction, one INSERT per line, as Nautobot 1.x writes JobLogEntry."""
    task_id = self.request.id
    with _task_engine().begin() as connection:
        connection.execute(
            row_table.insert().values(task_id=task_id, name=f"bench-{n}-{task_id}", created=_now())
        )
        for number in range(LOG_LINES):
            connection.execute(
                log_table.insert().values(
                    task_id=task_id, message=f"Checked interface {number} on bench-{n}: all good", created=_now()
                )
            )


def _now() -> datetime:
    return datetime.now(timezone.utc)
