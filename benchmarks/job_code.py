"""The one-row job's own code, run on jobruntime's models layer as a run runs it, without the runner.

``OneRow.run`` (``benchmarks/jobs/bench_inventory.py``) spends most of a one-row run:
``Status.objects.get(slug="active")`` and ``Site(...).validated_save()`` (full_clean, the
uniqueness check, the session flush), then the change log. ``bench_floor``'s models floor and
Celery's ``one_row_models`` task both run it through ``OneRowJob``, the way
``JobExecution._run_phase`` does: a session from the runtime, bound for the models, its changes
recorded against the job and written with their events (and any hook runs) in the same
transaction. What a worker adds around it (the request's authorization, the claim, the run's
log, the relay) is left out, so what is measured is the job's code on each transport.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from jobruntime.authoring.discovery import load_job_class
from jobruntime.changes.hooks import write_with_hook_runs
from jobruntime.changes.recorder import JOB, ChangeContext, recording
from jobruntime.models import JobResult, User, bind_session
from jobruntime.run.runtime import Runtime
from jobruntime.store.prebuilt import DriverConnection, in_session

ONE_ROW = "local/bench_inventory/OneRow"
USERNAME = "bench"  # the user ``common.prepared_runtime`` makes: the runs' changes are recorded against it

# Writes a runner adds to the job's transaction before it commits (a worker's deciding write); returns their
# outbox rows.
Decide = Callable[[DriverConnection], list[dict[str, Any]]]


class OneRowJob:
    """The one-row job's class and the user its changes are recorded against, loaded once per process."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.job_class = load_job_class(ONE_ROW, runtime.settings.jobs_root)
        with runtime.session() as session:
            self.user = session.scalars(select(User).where(User.username == USERNAME)).one()

    def run(self, job_result: JobResult, decide: Decide | None = None) -> list[dict[str, Any]]:
        """One run in its own transaction: the job's ``run()``, its change log, ``decide``'s writes, one commit.

        Returns the outbox rows written (the change's event, then ``decide``'s), to publish once the commit is
        durable.
        """
        context = ChangeContext(name=JOB, detail=ONE_ROW, user_id=self.user.id, user_name=self.user.username,
                                request_id=job_result.id)
        with self.runtime.session() as session, bind_session(session), recording(session, context) as changes:
            job = self.job_class()
            job.job_result, job.session = job_result, session
            job.run({}, True)
            events = write_with_hook_runs(in_session(session), changes.take(), self.runtime.settings,
                                          events=self.runtime.events)
            if decide is not None:
                events += decide(in_session(session))
            session.commit()
        return events
