"""Handler for run requests: parse → authorize → execute, claimed (then acked) if it lasts → outcome.

Everything it needs arrives in ``ctx``; it keeps nothing between calls.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from jobruntime.worker.admission import read_admission
from jobruntime.run.auth import RUN_JOB, check_credentials, check_permission, check_queue, find_user
from jobruntime.run.events import result_event_row
from jobruntime.run.execution import JobExecution, LeaseLost, RunOptions
from jobruntime.worker.handling import HandlerContext, Outcome
from jobruntime.authoring.job import JobRequest
from jobruntime.authoring.records import lookup_record
from jobruntime.worker.leases import Claim, RunClaim, refuse_run, rerun_request, run_name
from jobruntime.bus.messages import ErrorEvent, MalformedMessage, RunRequest
from jobruntime.models import JobResult, User
from jobruntime.store.prebuilt import as_model, transaction
from jobruntime.core.statuses import PENDING
from jobruntime.storage import StoreUnavailable, UploadedFile, UploadUnusable, discard, fetch

STORE_RETRY_DELAY = 0.5  # seconds before a delivery whose files the store could not serve is handed back, doubling


@dataclass
class _Run:
    request: RunRequest
    record: Any
    user: User | None = None
    queue: str | None = None
    requeued: bool = False
    taken_by: str | None = None  # the job of the run's row when it is no longer pending: a duplicate
    values: dict[str, Any] = field(default_factory=dict)

    def identity(self, queue: str | None) -> dict[str, Any]:
        """The JobResult columns saying which run this is, who asked for it and where."""
        return {
            "id": self.request.job_result_id,
            "name": self.record.class_path,
            "job_model_id": self.record.id,
            "user_id": self.user.id if self.user else None,
            "task_queue": queue,
        }


def handle(body: bytes, ctx: HandlerContext) -> Outcome:
    try:
        request = RunRequest.parse(body)
    except MalformedMessage as exc:
        return _reject(ctx, exc.reason, ErrorEvent.for_malformed(exc, ctx.queue), job=exc.job,
                       job_result_id=exc.job_result_id)
    outcome = _handle(request, ctx)
    if request.files:  # the run has ended (or never will): its uploads go, whatever its status
        discard(ctx.runtime.store, request.files, request.job_result_id)
    return outcome


def _handle(request: RunRequest, ctx: HandlerContext) -> Outcome:
    """Everything after parsing; an exception (a store or database fault) hands the delivery back, uploads kept."""
    run = _authorize(ctx, request)
    if isinstance(run, Outcome):
        return run
    if run.taken_by is not None:
        return _duplicate(ctx, run, run.taken_by)
    try:
        files = _fetch_files(ctx, run)
    except UploadUnusable as exc:
        return _refuse(ctx, run, str(exc))
    except StoreUnavailable as exc:
        if ctx.delivery_count + 1 < ctx.runtime.settings.max_attempts:
            time.sleep(STORE_RETRY_DELAY * 2 ** ctx.delivery_count)  # give the store a moment before the next delivery
            raise
        return _refuse(ctx, run, f"The uploaded files could not be fetched: {exc}")
    try:
        return _execute(ctx, run, files)
    finally:
        for uploaded in files.values():
            uploaded.close()


def _fetch_files(ctx: HandlerContext, run: _Run) -> dict[str, UploadedFile]:
    """The run's uploaded files, verified, before the job starts; UploadUnusable names the variable at fault."""
    request, settings = run.request, ctx.runtime.settings
    fetched: dict[str, UploadedFile] = {}
    try:
        for variable, ref in request.files.items():
            if variable in request.data:
                raise UploadUnusable(f"{variable}: given both in data and in files; send a file in files only")
            fetched[variable] = fetch(ctx.runtime.store, ref, variable, job_result_id=request.job_result_id,
                                      max_bytes=settings.max_upload_bytes)
    except BaseException:
        for uploaded in fetched.values():
            uploaded.close()
        raise
    return fetched


def _execute(ctx: HandlerContext, run: _Run, files: dict[str, UploadedFile]) -> Outcome:
    request = run.request
    claim = _claim(ctx, run)
    if not _may_defer_claim(ctx, run):
        try:
            claim.ensure()
        except LeaseLost:
            return _duplicate(ctx, run)
    result = as_model(JobResult, claim.snapshot(), job_model=run.record, user=run.user)
    execution = JobExecution(ctx.runtime, result, RunOptions(
        data={**run.request.data, **files}, commit=run.request.commit, profile=run.request.profile, claim=claim,
        request=JobRequest(user=run.user, id=str(request.job_result_id),
                           client_address=run.request.client_address, server_name="jobruntime_worker"),
    ))
    try:
        with ExitStack() as stack:
            for middleware in ctx.middleware:
                stack.enter_context(middleware(execution, claim, run.record))
            final = execution.execute()
    except LeaseLost as exc:
        return Outcome("lease_lost", request.job_result_id, str(exc))
    return Outcome(final.status, final.id, final.reason)


def _claim(ctx: HandlerContext, run: _Run) -> RunClaim:
    """The run's claim, made when the run lasts (see ``RunClaim``); a claim commits, then the delivery is acked."""

    def claimed(claim: Claim) -> None:
        ctx.runtime.committed(claim.events)
        ctx.acknowledge()

    username = run.user.username if run.user else None
    return RunClaim(
        ctx.runtime.engine, run.values, worker=ctx.worker_id, lease_seconds=ctx.runtime.settings.lease_seconds,
        events=[lambda row: result_event_row(row, username=username)], on_claimed=claimed,
    )


def _may_defer_claim(ctx: HandlerContext, run: _Run) -> bool:
    """Whether the run may start unclaimed, to settle in one transaction if it is short.

    Not on SQLite (one writer: a claim cannot commit beside the job's open
    transaction), not for a re-run (it continues its earlier attempts' log), and not
    when the hard limit could kill the process before the claim window ends.
    """
    settings = ctx.runtime.settings
    hard_limit = run.record.time_limit or settings.time_limit
    return ctx.runtime.log_writer.concurrent and not run.requeued and hard_limit > 2 * settings.log_flush_interval


def _authorize(ctx: HandlerContext, request: RunRequest) -> _Run | Outcome:
    """Check who asked, for what and where; a refusal is recorded on the run when the job is known."""
    runtime = ctx.runtime
    with transaction(runtime.autocommit_engine) as db:
        facts = read_admission(db, request, RUN_JOB)
    record, existing = facts.record, facts.run
    if record is None:
        reason = f'Job "{request.job}" not found'
        return _reject(ctx, reason, ErrorEvent(reason=reason, job=request.job, queue=ctx.queue,
                                               job_result_id=request.job_result_id),
                       job_result_id=request.job_result_id)
    stored = rerun_request(existing) if request.token is None and request.signature is None else None
    run = _Run(request=RunRequest.model_validate(stored) if stored else request, record=record,
               requeued=stored is not None,
               taken_by=existing["name"] if existing is not None and existing["status"] != PENDING else None)
    try:
        if run.requeued:  # the reaper's own message: who asked was checked on the first attempt
            run.user = facts.user if request.requested_by == run.request.requested_by else _user(ctx, run)
        else:
            run.user = check_credentials(request, facts.user, facts.token_expires, runtime.settings.signing_secret)
            check_permission(run.user, RUN_JOB, record, facts.granted)
        run.queue = check_queue(record, run.request.task_queue or ctx.queue, runtime.settings.default_queue)
        if ctx.queue is not None and ctx.queue != run.queue:
            raise PermissionError(
                f'The request arrived on queue "{ctx.queue}" but asks for "{run.queue}"; '
                f"publish it to the queue it names"
            )
    except (PermissionError, ValueError) as exc:
        return _refuse(ctx, run, str(exc))
    keep_input = not record.has_sensitive_variables
    run.values = {
        **run.identity(run.queue),
        "created": existing["created"] if existing else None,  # a pending row's (its publisher's) is kept
        "request": run.request.stored() if keep_input else None,
        "job_kwargs": {"data": run.request.data, "commit": run.request.commit, "task_queue": run.queue}
        if keep_input else None,
    }
    return run


def _user(ctx: HandlerContext, run: _Run) -> User | None:
    """The requester a re-queued run stored (the message naming someone else changes nothing)."""
    with transaction(ctx.runtime.autocommit_engine) as db:
        return find_user(db, run.request.requested_by)


def _refuse(ctx: HandlerContext, run: _Run, reason: str) -> Outcome:
    values = run.identity(run.request.task_queue or ctx.queue)
    events = refuse_run(ctx.runtime.engine, values, reason, events=[result_event_row])
    if events is None:
        return _duplicate(ctx, run)
    ctx.runtime.committed(events)
    return Outcome.refused(run.request.job_result_id, reason)


def _duplicate(ctx: HandlerContext, run: _Run, owner: str | None = None) -> Outcome:
    """A redelivery of a run that exists is harmless; another job's request reusing its id is refused.

    ``owner`` is the job the existing run belongs to, read here unless the caller has it.
    The existing run is left as it is either way.
    """
    job_result_id = run.request.job_result_id
    if owner is None:
        with transaction(ctx.runtime.autocommit_engine) as db:
            owner = run_name(db, job_result_id)
    if owner is None or owner == run.record.class_path:
        return Outcome.duplicate(job_result_id)
    reason = f"job_result_id {job_result_id} already belongs to a run of {owner}; give every request a new id"
    return _reject(ctx, reason, ErrorEvent(reason=reason, job=run.request.job, queue=ctx.queue,
                                           job_result_id=job_result_id), job_result_id=job_result_id)


def _reject(ctx: HandlerContext, reason: str, event: ErrorEvent, **identity: Any) -> Outcome:
    """Park an unusable message in the dead-letter queue and say why, on the bus and on its run if known."""
    ctx.dead_letter(reason)
    ctx.publish(event.routing_key, event.model_dump(mode="json"))
    job, job_result_id = identity.get("job"), identity.get("job_result_id")
    if job and job_result_id:
        with transaction(ctx.runtime.autocommit_engine) as db:
            record = lookup_record(db, job)
        if record is not None:
            events = refuse_run(ctx.runtime.engine, {"id": job_result_id, "name": record.class_path,
                                                     "job_model_id": record.id}, reason, events=[result_event_row])
            ctx.runtime.committed(events or [])
    return Outcome.rejected(job_result_id, reason)
