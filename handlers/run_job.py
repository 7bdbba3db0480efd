"""Handler for run requests, in the order of the README's "What a run request goes through":

1. parsed and validated (``handle``);
2. authenticated, identified, then authorized (``_authorize``); its uploads fetched (``_fetch_files``);
3. claimed, then acked, once the run lasts (``_claim``; see ``jobruntime.run.claim``);
4. executed inside the worker's middleware (lease renewal, log flushing, the hard limit);
5. handed back at once if the database connection is lost after the claim (``_hand_back``).

Everything it needs arrives in ``ctx``; it keeps nothing between calls.
"""

from __future__ import annotations

import datetime as dt
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from jobruntime.authoring.job import JobRequest
from jobruntime.bus.messages import ErrorEvent, MalformedMessage, RunRequest, body_sha256
from jobruntime.core.errors import RefusalError
from jobruntime.core.limits import quote
from jobruntime.core.statuses import COMPLETED, ERRORED, FAILED, PENDING
from jobruntime.models import JobResult, User
from jobruntime.run.auth import (
    RUN_JOB,
    AuthenticationFailed,
    PermissionDenied,
    check_credentials,
    check_permission,
    check_queue,
    find_user,
    requester,
)
from jobruntime.run.claim import Claim, RunClaim
from jobruntime.run.events import result_event_row
from jobruntime.run.execution import ConnectionLost, JobExecution, LeaseLost, RunOptions
from jobruntime.storage import StoreUnavailable, UploadedFile, UploadUnusable, discard, fetch
from jobruntime.store.prebuilt import as_model, connection_lost, transaction
from jobruntime.worker.admission import Admission
from jobruntime.worker.handling import HandlerContext, Outcome
from jobruntime.worker.leases import refuse_run, rerun_request, run_name
from jobruntime.worker.reaper import Reaped, release_run
from jobruntime.worker.standing import another_jobs, conflict

RELEASE_TRIES = 3  # a lost connection takes its pool's others with it: the next one is fresh
RELEASE_RETRY_DELAY = 0.5  # seconds
STORE_RETRY_DELAY = 0.5  # seconds before a delivery whose files the store could not serve is handed back, doubling
# Outcomes after which a run's uploads are no longer needed: it ended, or was refused as its requester's own.
# Not a rejection (the request may name another run's files), nor a run handed back (it runs again).
DONE_WITH_UPLOADS = frozenset({COMPLETED, FAILED, ERRORED, "refused"})


@dataclass
class _Run:
    request: RunRequest
    record: Any
    digest: str  # body_sha256 of the delivery, for the job.error answering it
    user: User | None = None
    queue: str | None = None
    requeued: bool = False
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
        request = RunRequest.parse(body, max_bytes=ctx.runtime.settings.max_request_bytes)  # step 1
    except MalformedMessage as exc:  # it proves nothing, so it changes no run, even one it names
        return _reject(ctx, ErrorEvent.for_malformed(exc, ctx.queue, body=body))
    outcome = _handle(request, ctx, body_sha256(body))
    if request.files and _done_with_uploads(request, outcome):
        discard(ctx.runtime.store, request.files, request.job_result_id)
    return outcome


def _done_with_uploads(request: RunRequest, outcome: Outcome) -> bool:
    """Whether the run's uploads can go: it ended or was refused, or this is a proven requester's copy of a run
    that already ended or was cancelled (a duplicate that carries no credentials proves nothing)."""
    proven = request.token is not None or request.signature is not None
    return outcome.status in DONE_WITH_UPLOADS or (outcome.status == "duplicate" and proven)


def _handle(request: RunRequest, ctx: HandlerContext, digest: str) -> Outcome:
    """Everything after parsing; an exception (a store or database fault) hands the delivery back, uploads kept."""
    run = _authorize(ctx, request, digest)  # step 2: who asked, for what, where
    if isinstance(run, Outcome):
        return run
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
        return _execute(ctx, run, files)  # steps 3 to 5
    finally:
        for uploaded in files.values():
            uploaded.close()


def _authorize(ctx: HandlerContext, request: RunRequest, digest: str) -> _Run | Outcome:
    """Check who asked, for what and where; a refusal is recorded only on the proven requester's own run."""
    runtime = ctx.runtime
    with transaction(runtime.autocommit_engine) as db:
        facts = ctx.read_admission(db, request, RUN_JOB)
        credentials = (facts.user, facts.token_expires) if facts.record is not None else requester(db, request)
    run = _identify(ctx, request, digest, facts, credentials)
    if isinstance(run, Outcome):
        return run
    record, existing = facts.record, facts.run
    try:
        if not run.requeued:  # a re-queued run's permission was checked on its first attempt
            check_permission(run.user, RUN_JOB, record, facts.granted)
        if record.approval_required and not (run.requeued and existing["schedule_id"] is not None):
            raise PermissionDenied(
                f"Job {record.class_path} requires approval: only an approved schedule runs it "
                f"(`jobruntime runjob` makes one; another user approves it with `jobruntime approvals approve`)"
            )
        run.queue = check_queue(record, run.request.task_queue or ctx.queue, runtime.settings.default_queue)
        if ctx.queue is not None and ctx.queue != run.queue:
            raise PermissionDenied(
                f'The request arrived on queue "{ctx.queue}" but asks for "{run.queue}"; '
                f"publish it to the queue it names"
            )
    except RefusalError as exc:
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


def _identify(
    ctx: HandlerContext, request: RunRequest, digest: str, facts: Admission,
    credentials: tuple[User | None, dt.datetime | None],
) -> _Run | Outcome:
    """The run ``request`` may start or refuse, with its proven requester; an Outcome when it may touch none.

    Who asked is judged before whether the job exists, so a request without valid
    credentials gets the same answer either way and leaves no row. The run's row must
    be new, or one of the same job and the same user (``worker.standing``). The
    reaper's message (no credentials, naming a pending run that stored its request)
    stands for that stored request, whose requester was proven on its first attempt.
    """
    record, existing = facts.record, facts.run
    unsigned = request.token is None and request.signature is None
    stored = rerun_request(existing) if unsigned else None
    run = _Run(request=RunRequest.model_validate(stored) if stored else request, record=record, digest=digest,
               requeued=stored is not None)
    if run.requeued:
        run.user = facts.user if request.requested_by == run.request.requested_by else _user(ctx, run)
        return run
    if unsigned and record is not None and existing is not None and existing["status"] != PENDING:
        return _duplicate(ctx, run, existing["name"])  # another copy of the reaper's message, its run gone on
    try:
        run.user = check_credentials(request, *credentials, ctx.runtime.settings.signing_secret)
    except AuthenticationFailed as exc:
        return _reject(ctx, _error(ctx, run, str(exc)))
    if record is None:
        return _reject(ctx, _error(ctx, run, f'Job "{quote(request.job)}" not found'))
    reason = conflict(request.job_result_id, existing, record.class_path, run.user)
    if reason is not None:
        return _reject(ctx, _error(ctx, run, reason))
    if existing is not None and existing["status"] != PENDING:
        return Outcome.duplicate(request.job_result_id)
    return run


def _user(ctx: HandlerContext, run: _Run) -> User | None:
    """The requester a re-queued run stored (the message naming someone else changes nothing)."""
    with transaction(ctx.runtime.autocommit_engine) as db:
        return find_user(db, run.request.requested_by)


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
    """Run the job; its claim is made once it lasts (or before it starts, when it may not wait)."""
    claim = _claim(ctx, run)  # step 3: claimed, then acked, once the run lasts
    if not _may_defer_claim(ctx, run):
        try:
            claim.ensure()
        except LeaseLost:
            return _duplicate(ctx, run)
    execution = _execution(ctx, run, claim, files)
    try:
        with ExitStack() as stack:
            for middleware in ctx.middleware:
                stack.enter_context(middleware.around_run(execution, claim, run.record))
            final = execution.execute()  # step 4
    except LeaseLost as exc:
        return Outcome("lease_lost", run.request.job_result_id, str(exc))
    except ConnectionLost as exc:
        if claim.claimed is None:
            raise  # nothing was claimed or acked: the worker handles the delivery again once the database answers
        return _hand_back(ctx, claim, str(exc))  # step 5: at once, as the reaper would later
    return Outcome(final.status, final.id, final.reason)


def _execution(ctx: HandlerContext, run: _Run, claim: RunClaim, files: dict[str, UploadedFile]) -> JobExecution:
    """The run's execution, on its row as claimed (or as it will be), with the uploads among its data."""
    request = run.request
    result = as_model(JobResult, claim.snapshot(), job_model=run.record, user=run.user)
    return JobExecution(ctx.runtime, result, RunOptions(
        data={**request.data, **files}, commit=request.commit, profile=request.profile, claim=claim,
        request=JobRequest(user=run.user, id=str(request.job_result_id),
                           client_address=request.client_address, server_name="jobruntime_worker"),
        defer_decision=None if files else ctx.defer_decision,  # uploads go once the run ends: its end must be durable
    ))


def _claim(ctx: HandlerContext, run: _Run) -> RunClaim:
    """The run's claim, made when the run lasts (see ``jobruntime.run.claim``); a claim commits, then the delivery
    is acked."""

    def claimed(claim: Claim) -> None:
        ctx.runtime.committed(claim.events)
        ctx.acknowledge()

    username = run.user.username if run.user else None
    return RunClaim(
        ctx.runtime.engine, run.values, worker=ctx.worker_id, lease_seconds=ctx.runtime.settings.lease_seconds,
        events=[lambda row: result_event_row(row, username=username)], on_claimed=claimed,
    )


def _may_defer_claim(ctx: HandlerContext, run: _Run) -> bool:
    """Whether the run may start unclaimed, to be decided in one transaction if it is short.

    Not on SQLite (one writer: a claim cannot commit beside the job's open
    transaction), not for a re-run (it continues its earlier attempts' log), not
    when the hard limit could kill the process before the claim window ends, and not
    for a delivery that came back (the process that had it died before claiming it):
    claimed first, its attempts count in its row, so the reaper ends a run that keeps
    killing its worker after ``max_attempts``, on classic queues (which count no
    deliveries) as on quorum queues.
    """
    settings = ctx.runtime.settings
    hard_limit = run.record.time_limit or settings.time_limit
    return (ctx.runtime.log_writer.concurrent and not run.requeued and ctx.delivery_count == 0
            and hard_limit > 2 * settings.log_flush_interval)


def _hand_back(ctx: HandlerContext, claim: RunClaim, reason: str) -> Outcome:
    """A claimed run lost its database connection: re-queue or end it now, as the reaper would for a dead worker.

    If the database stays away, this raises, and the run's lease runs out: the reaper does it later.
    """
    settings = ctx.runtime.settings
    for attempt in range(1, RELEASE_TRIES + 1):
        try:
            released: Reaped | None = release_run(
                ctx.runtime.engine, claim.job_result_id, claim.attempt, max_attempts=settings.max_attempts,
                result_event=result_event_row, default_queue=settings.default_queue,
            )
            break
        except Exception as exc:
            if attempt == RELEASE_TRIES or not connection_lost(exc):
                raise
            time.sleep(RELEASE_RETRY_DELAY)
    if released is None:  # the outcome did commit before the connection went, or another delivery took the run
        return Outcome("lease_lost", claim.job_result_id, reason)
    ctx.runtime.committed(released.events)
    if released.requeued:
        return Outcome("requeued", claim.job_result_id, reason)
    return Outcome(ERRORED, claim.job_result_id, released.reason)


def _refuse(ctx: HandlerContext, run: _Run, reason: str) -> Outcome:
    """Record the refusal of a proven requester on their run (a new row, or their own pending one)."""
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
    return _reject(ctx, _error(ctx, run, another_jobs(job_result_id, owner)))


def _error(ctx: HandlerContext, run: _Run, reason: str) -> ErrorEvent:
    """The ``job.error`` answering this delivery; ``run.digest`` tells its publisher's follower it is theirs."""
    return ErrorEvent(reason=reason, job=run.request.job, queue=ctx.queue, job_result_id=run.request.job_result_id,
                      request_sha256=run.digest)


def _reject(ctx: HandlerContext, event: ErrorEvent) -> Outcome:
    """Park an unusable message in the dead-letter queue and say why on the bus; no run changes."""
    ctx.dead_letter(event.reason)
    ctx.publish(event.routing_key, event.model_dump(mode="json"))
    return Outcome.rejected(event.job_result_id, event.reason)
