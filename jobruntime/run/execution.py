"""The run pipeline: pre-checks, input validation, the run transaction, post_run, the verdict.

This is the one place that decides a run's status and which automatic log
messages it gets (word for word as the reference's outcome table). Everything
transport-related (how the request arrived, how results are announced) lives
above it; time limits and profiling wrap the calls it makes.
"""

from __future__ import annotations

import threading
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jobruntime.authoring.discovery import InvalidClassPath, JobNotFound, load_job_class
from jobruntime.authoring.job import LOG_LEVELS, Job, JobRequest, SoftTimeLimitExceeded
from jobruntime.authoring.records import lookup_record
from jobruntime.changes.hooks import write_with_hook_runs
from jobruntime.changes.recorder import JOB, JOB_HOOK, ChangeContext, ChangeRecorder, recording
from jobruntime.core.clock import utcnow
from jobruntime.core.errors import RefusalError
from jobruntime.core.statuses import COMPLETED, ERRORED, FAILED, PENDING, RUNNING, TERMINAL_STATUSES
from jobruntime.models import Job as JobRecord
from jobruntime.models import JobResult, User, bind_session
from jobruntime.run.claim import ClaimState, LeaseLost, RunClaim
from jobruntime.run.decisions import PendingDecision
from jobruntime.run.interrupts import Interrupter, RunCancelled
from jobruntime.run.log import LogEntry, RunLog, last_seq
from jobruntime.run.profiling import profiled
from jobruntime.run.result import ResultWriter
from jobruntime.run.runtime import Runtime
from jobruntime.store.prebuilt import (
    ConnectionLost,
    DriverConnection,
    as_model,
    connection_lost,
    in_session,
    prebuilt_insert,
    transaction,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from jobruntime.storage.outputs import OutputFiles


REVERTED_AUTOMATICALLY = "Database changes have been reverted automatically."
REVERTED_DUE_TO_ERROR = "Database changes have been reverted due to error."


def _traceback_block(prefix: str, exc: BaseException) -> str:
    return f"{prefix}\n```\n{''.join(traceback.format_exception(exc))}\n```"


def _exception_message(prefix: str, exc: BaseException) -> str:
    return _traceback_block(f"{prefix}: `{type(exc).__name__}: {exc}`", exc)


_RESULT_COLUMNS = tuple(column.key for column in JobResult.__table__.c)
_INSERT_RESULT = prebuilt_insert(JobResult.__table__, _RESULT_COLUMNS)


def create_job_result(
    db: DriverConnection,
    record: JobRecord | None,
    class_path: str,
    *,
    user: User | None = None,
    data: Any = None,
    commit: bool | None = None,
    task_queue: str | None = None,
    job_result_id: uuid.UUID | None = None,
    claimed: bool = False,
) -> JobResult:
    """A new JobResult: ``pending``, or ``running`` when the caller runs it at once (``claimed``).

    Input is kept for re-runs only when the job has no sensitive variables. Returns a
    snapshot of the row (see ``prebuilt.as_model``) with ``job_model`` and ``user`` set.
    """
    now = utcnow()
    keep_input = record is not None and not record.has_sensitive_variables
    values = {
        **dict.fromkeys(_RESULT_COLUMNS),
        "id": job_result_id or uuid.uuid4(),
        "job_model_id": record.id if record is not None else None,
        "name": class_path,
        "created": now,
        "user_id": user.id if user is not None else None,
        "status": RUNNING if claimed else PENDING,
        "started": now if claimed else None,
        "task_queue": task_queue,
        "job_kwargs": {"data": data, "commit": commit, "task_queue": task_queue} if keep_input else None,
        "attempt": 0,
        **{f"log_{level}": 0 for level in LOG_LEVELS},
    }
    _INSERT_RESULT.execute(db, values)
    return as_model(JobResult, values, job_model=record, user=user)


def _reason(exc: BaseException) -> str:
    """The one-line reason a run errored, as stored on the JobResult."""
    if isinstance(exc, SoftTimeLimitExceeded | RunCancelled) and str(exc):
        return str(exc)
    if isinstance(exc, SoftTimeLimitExceeded):
        return "soft time limit exceeded"
    return f"{type(exc).__name__}: {exc}"


class _InitializationFailed(RefusalError):
    """A run that ends in ``initialization`` before the job's code runs.

    ``message`` is logged; ``reason``, one line, is the JobResult's (its message's first line by default).
    """

    def __init__(self, message: str, obj: Any = None, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.obj = obj
        self.reason = reason or message.split("\n", 1)[0]


@dataclass
class RunOptions:
    """What a caller asks of one run, beyond the JobResult row that already exists."""

    data: Any = None
    commit: bool | None = None
    request: JobRequest | None = None
    profile: bool = False
    job_class: type[Job] | None = None
    listeners: Iterable[Callable[[LogEntry], None]] = field(default_factory=tuple)
    claim: RunClaim | None = None  # a worker's run: not claimed yet when it may end within its claim window
    defer_decision: Callable[[PendingDecision], None] | None = None  # a batch's: see ``jobruntime.run.decisions``


class JobExecution:
    """One run of one JobResult. Create, call :meth:`execute`, read the returned JobResult."""

    def __init__(self, runtime: Runtime, job_result: uuid.UUID | JobResult, options: RunOptions) -> None:
        self.runtime = runtime
        self.result = job_result if isinstance(job_result, JobResult) else None
        job_result_id = job_result.id if isinstance(job_result, JobResult) else job_result
        self.job_result_id = job_result_id
        self.options = options
        self.log = RunLog(
            job_result_id,
            runtime.log_writer,
            runtime.sanitizer,
            batch_size=runtime.settings.log_batch_size,
            flush_interval=runtime.settings.log_flush_interval,
            max_message=runtime.settings.max_stored_text,
        )
        self.log.listeners.extend(options.listeners)
        self.data: dict[str, Any] = {"output": ""}
        self.reason: str | None = None
        self.interrupter = Interrupter()
        self.writer = ResultWriter(runtime, job_result_id, self.log, self.result, options.claim,
                                   options.defer_decision)
        if options.claim is not None and options.claim.state is ClaimState.UNCLAIMED:
            self.log.deferred = options.claim
            options.claim.on_lost = self._lost

    def _lost(self, reason: str) -> None:
        """A late claim found the run taken (cancelled while pending, or run by another delivery): stop the job.

        From the job's own thread the claim raises by itself.
        """
        if threading.current_thread() is not self.interrupter.thread:
            self.interrupter.interrupt(LeaseLost(reason))

    def _continue_log_numbering(self, result: JobResult) -> None:
        """A re-run numbers its log entries after the earlier attempts' (a first attempt has logged nothing)."""
        if (result.attempt or 0) > 1:
            with transaction(self.runtime.autocommit_engine) as db:
                self.log.continue_after(last_seq(db, self.job_result_id))

    # --- the pipeline --------------------------------------------------------

    def execute(self) -> JobResult:
        """Run to a terminal status and return the stored JobResult.

        A worker's run whose database connection is lost before its outcome commits raises
        ``ConnectionLost`` and records nothing, as if its worker had died: the caller hands it back.
        """
        try:
            return self._execute()
        except BaseException as exc:
            if self._handed_back(exc):
                raise ConnectionLost(
                    f"database connection lost before the outcome of run {self.job_result_id} committed "
                    f"({type(exc).__name__})"
                ) from exc
            raise

    def _execute(self) -> JobResult:
        try:
            record, result = self._load()
            job = self._prepare(record, result)
            commit = bool(self.options.commit if self.options.commit is not None else record.commit_default)
            if record.read_only:
                commit = False
            with self.interrupter.armed(self._soft_limit(record)):
                status = self._run_phase(job, record, commit)
                status = self._post_run_phase(job, record, commit, status)
        except _InitializationFailed as error:
            self.log.add("failure", "initialization", error.message, error.obj)
            self.log.flush()
            return self.writer.finish(ERRORED, error.reason, None)
        except LeaseLost:
            self.log.flush()
            raise
        except BaseException as exc:
            if not self._handed_back(exc):
                self._abandon(exc)
            raise
        self.log.flush()
        return self.writer.finish(status, self.reason, self.data)

    def _handed_back(self, exc: BaseException) -> bool:
        """Whether ``exc`` ends a worker's run as a lost worker would: its database connection went away.

        A local run has no one to hand it back to; there the error is recorded as any other.
        """
        return self.options.claim is not None and connection_lost(exc)

    def cancel(self, username: str) -> None:
        """Stop the job from another thread: ``RunCancelled`` is raised inside it."""
        self.interrupter.interrupt(RunCancelled(f"cancelled by {username}"))

    def _soft_limit(self, record: JobRecord) -> float:
        return record.soft_time_limit or self.runtime.settings.soft_time_limit

    def _load(self) -> tuple[JobRecord, JobResult]:
        result = self.result = self.writer.load()
        self._continue_log_numbering(result)
        record = result.job_model
        if record is None:
            with transaction(self.runtime.autocommit_engine) as db:
                record = lookup_record(db, result.name)
        if record is None:
            raise _InitializationFailed(f'Unable to locate Job database record for "{result.name}" to run it!')
        if not record.enabled:
            raise _InitializationFailed(f"Job {record.name} is not enabled to be run!", record)
        return record, result

    def _prepare(self, record: JobRecord, result: JobResult) -> Job:
        job_class = self.options.job_class
        if not record.installed:
            raise _InitializationFailed(f'Unable to locate job "{record.class_path}" to run it!', record)
        if job_class is None and record.source.startswith("git."):
            job_class = self._load_pinned(record, result)
        elif job_class is None:
            try:
                job_class = load_job_class(record.class_path, self.runtime.settings.jobs_root)
            except (JobNotFound, InvalidClassPath) as exc:
                raise _InitializationFailed(f'Unable to locate job "{record.class_path}" to run it!', record) from exc
        try:
            job = job_class()
        except Exception as exc:  # noqa: BLE001 - any constructor failure is a set-up error
            raise _InitializationFailed(_traceback_block("Error initializing job:", exc), record,
                              reason=f"Error initializing job: {type(exc).__name__}: {exc}") from exc
        job.active_test = "initialization"
        job._run_log = self.log
        job.job_result = result
        job.results = result.data = self.data  # live while the job runs, as Nautobot's job_result.data is
        job.request = self.options.request
        job._create_file = self._output_files().create
        self._warn_about_time_limits(record)
        return job

    def _load_pinned(self, record: JobRecord, result: JobResult) -> type[Job]:
        """A Git job's class from the commit the run is pinned to (recorded before any of its code is loaded).

        Imported here: runs of local jobs never pay for loading the Git machinery.
        """
        from jobruntime.sources.pinning import SourceUnavailable, load_pinned_class, pin
        from jobruntime.sources.remote import GitError

        try:
            with self.runtime.session(autocommit=True) as session:
                pinned = pin(session, record.source, result.id)
        except SourceUnavailable as exc:
            raise _InitializationFailed(f'Unable to locate job "{record.class_path}" to run it! {exc}', record,
                              reason=str(exc)) from exc
        self.writer.source = pinned.source
        try:
            return load_pinned_class(self.runtime.settings, pinned, record.class_path)
        except GitError as exc:
            raise _InitializationFailed(f"Unable to fetch commit {pinned.commit} of {record.class_path}: {exc}", record) from exc
        except JobNotFound as exc:
            raise _InitializationFailed(f'Unable to locate job "{record.class_path}" to run it! {exc}', record) from exc

    def _output_files(self) -> OutputFiles:
        """Where the job's ``create_file()`` stores; the store is opened on the first file."""
        from jobruntime.storage.outputs import OutputFiles

        return OutputFiles(lambda: self.runtime.store, self.job_result_id, self.data)

    def _warn_about_time_limits(self, record: JobRecord) -> None:
        settings = self.runtime.settings
        soft = record.soft_time_limit or settings.soft_time_limit
        hard = record.time_limit or settings.time_limit
        if hard <= soft:
            self.log.add(
                "warning",
                "initialization",
                f"The hard time limit of {hard} seconds is less than or equal to the soft time limit of "
                f"{soft} seconds. This job will fail silently after {hard} seconds.",
            )

    def _job_data(self, job: Job, record: JobRecord, session: Session) -> dict[str, Any]:
        """What ``run()`` receives, validated; invalid data ends the run before it starts.

        A job without variables run without data has nothing to validate: it is
        answered here, so such a run does not load the validation machinery (pydantic).
        """
        variables, data = type(job).variables(), self.options.data
        if not variables and (data is None or data == {}):
            return {}
        from jobruntime.authoring.inputs import InputValidationError, validate_data

        try:
            return validate_data(variables, {} if data is None else data, requester=self.result.user)
        except InputValidationError as exc:
            session.rollback()
            raise _InitializationFailed(f"Error initializing job:\n```\n{exc}\n```", record,
                              reason=f"Error initializing job: {'; '.join(str(exc).splitlines())}") from exc

    def _change_context(self, record: JobRecord, commit: bool) -> ChangeContext | None:
        """Who the run's changes are recorded against: ``job-hook`` for a receiver's runs, else ``job``.

        None (nothing is recorded) for a dry run.
        """
        if not (commit and self.runtime.settings.change_logging):
            return None
        user = self.options.request.user if self.options.request is not None else None
        return ChangeContext(
            name=JOB_HOOK if record.is_job_hook_receiver else JOB,
            detail=record.class_path,
            user_id=user.id if user is not None else None,
            user_name=user.username if user is not None else "",
            request_id=self.job_result_id,
        )

    def _write_changes(self, session: Session, changes: ChangeRecorder) -> list[dict[str, Any]]:
        """The run's changes, their events and the hook runs they start, written in the run's transaction."""
        noted = changes.take()
        if not noted:
            return []
        return write_with_hook_runs(in_session(session), noted, self.runtime.settings, events=self.runtime.events)

    def _run_phase(self, job: Job, record: JobRecord, commit: bool) -> str:
        read_only = record.read_only
        with self.runtime.session() as session, bind_session(session), \
                recording(session, self._change_context(record, commit)) as changes:
            job.session = session
            data = self._job_data(job, record, session)
            if self.result.status == PENDING:
                self.writer.mark_running()
                self.result.status = RUNNING  # what job code reads in self.job_result.status
            try:
                job.active_test = "run"
                self._append_output(self._call_run(job, data, commit))
                for test in job.test_methods:
                    job.active_test = test.__name__
                    self._append_output(test())
                status = FAILED if job.failed else COMPLETED
                if commit:
                    if self.log.live:
                        self.log.flush()
                    final = not _has_post_run(job)
                    change_events = self._write_changes(session, changes)
                    self.writer.record_verdict(session, status, self.reason, self.data, final=final)
                    session.commit()
                    self.runtime.committed(change_events)
                    self.writer.verdict_committed()
                else:
                    session.rollback()
                    if not read_only:
                        job.log_info(REVERTED_AUTOMATICALLY)
            except LeaseLost:
                session.rollback()
                self.writer.verdict_rolled_back()
                raise
            except (Exception, SystemExit) as exc:
                session.rollback()
                self.writer.verdict_rolled_back()
                if self._handed_back(exc):
                    raise
                job.log_failure(_exception_message("An exception occurred", exc))
                if not read_only:
                    job.log_info(REVERTED_DUE_TO_ERROR)
                self.reason = _reason(exc)
                status = ERRORED
        self.log.flush()
        return status

    def _call_run(self, job: Job, data: dict[str, Any], commit: bool) -> Any:
        if not self.options.profile:
            return job.run(data=data, commit=commit)
        with profiled(self.job_result_id) as path:
            value = job.run(data=data, commit=commit)
        job.log_info(f"Wrote profiling information to {path}.")
        return value

    def _post_run_phase(self, job: Job, record: JobRecord, commit: bool, status: str) -> str:
        if not _has_post_run(job):
            return status
        job.active_test = "post_run"
        with self.runtime.session() as session, bind_session(session), \
                recording(session, self._change_context(record, commit)) as changes:
            job.session = session
            try:
                self._append_output(job.post_run())
                if commit:
                    change_events = self._write_changes(session, changes)
                    session.commit()
                    self.runtime.committed(change_events)
                else:
                    session.rollback()
            except (Exception, SystemExit) as exc:
                session.rollback()
                message = _exception_message("An exception occurred during job post_run()", exc)
                job.log_failure(message)
                self._append_output(message)
                self.reason = f"post_run: {_reason(exc)}"
                status = ERRORED
        return status

    # --- bookkeeping -------------------------------------------------------

    def _append_output(self, value: Any) -> None:
        if value:
            self.data["output"] += f"\n{value}"

    def _abandon(self, exc: BaseException) -> None:
        """An interrupt or crash of the runner itself: never leave the run pending or running."""
        try:
            self.log.add("failure", "main", _exception_message("The run was interrupted", exc))
            self.log.flush()
            self.writer.finish(ERRORED, f"interrupted: {type(exc).__name__}", self.data)
        except Exception:  # noqa: BLE001 - the original exception is what the caller must see
            pass


def _has_post_run(job: Job) -> bool:
    return type(job).post_run is not Job.post_run


def execute(runtime: Runtime, job_result: uuid.UUID | JobResult, options: RunOptions | None = None) -> JobResult:
    """Run a JobResult's job to a terminal status and return the stored JobResult.

    Pass the JobResult itself (with ``job_model`` loaded) when the caller just created
    or claimed it, to save reading it back.
    """
    return JobExecution(runtime, job_result, options or RunOptions()).execute()


__all__ = [
    "COMPLETED", "ERRORED", "FAILED", "PENDING", "RUNNING", "TERMINAL_STATUSES",
    "ConnectionLost", "JobExecution", "LeaseLost", "RunOptions", "create_job_result", "execute",
]
