"""Publishing run requests and following them, for the CLI and for other services.

    client = Client(Settings(), username="alice", token=key)
    request = client.request("local/new_branch/NewBranch", data={...}, commit=True)
    with client.follow(request.job_result_id) as follower:
        client.publish(request)
        result = follower.wait(on_log=print)

Internal publishers that hold ``JOBRUNTIME_SIGNING_SECRET`` sign their requests
instead of carrying a user's token.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from typing import IO, TYPE_CHECKING, Any, Union

from sqlalchemy import delete

from jobruntime.authoring.records import lookup_record
from jobruntime.bus.broker import Bus, RequestTooLarge
from jobruntime.bus.messages import (
    ERROR_ROUTING_KEY,
    FileRef,
    LogEvent,
    LogEventEntry,
    ResultEvent,
    RunRequest,
    body_sha256,
)
from jobruntime.core.errors import JobRuntimeError, RefusalError
from jobruntime.core.settings import Settings
from jobruntime.core.statuses import TERMINAL_STATUSES
from jobruntime.models import JobResult
from jobruntime.run.auth import AuthenticationFailed, check_credentials, requester, signed, valid_queues
from jobruntime.run.execution import create_job_result
from jobruntime.run.runtime import Runtime
from jobruntime.store.prebuilt import transaction
from jobruntime.worker.leases import run_name

if TYPE_CHECKING:
    from jobruntime.storage import Store

FileSource = Union[str, "os.PathLike[str]", IO[bytes]]
"""A file to upload: a path, or a binary file object read to its end."""


class FollowTimeout(JobRuntimeError, TimeoutError):
    """No final result arrived in time; the run may still be going."""


class RunRejected(RefusalError, RuntimeError):
    """A worker refused the request without touching any run (malformed, unproven credentials, unknown job, an id
    of another job's or user's run); it was dead-lettered."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"The worker rejected the request: {reason}")
        self.reason = reason


class Client:
    """One broker connection for as many requests as the caller publishes.

    With ``record_pending``, a publisher that shares the workers' database (the
    command line) also records each run as ``pending`` before publishing it, as
    Nautobot does when it enqueues a job: the run can be listed, shown and cancelled
    while it waits for a worker.
    """

    def __init__(
        self, settings: Settings, *, username: str, token: str | None = None, record_pending: bool = False
    ) -> None:
        self.settings = settings
        self.username = username
        self.token = token
        self.record_pending = record_pending
        self.bus = Bus(settings)
        self.bus.connect()

    @cached_property
    def runtime(self) -> Runtime:
        """The database side, built on first need: a publisher that names its queue never needs it."""
        return Runtime.from_settings(self.settings)

    def close(self) -> None:
        self.bus.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def request(
        self,
        job: str,
        *,
        data: dict[str, Any] | None = None,
        commit: bool | None = None,
        task_queue: str | None = None,
        profile: bool = False,
        job_result_id: uuid.UUID | None = None,
        on_behalf_of: tuple[str, str] | None = None,
        files: Mapping[str, FileSource] | None = None,
    ) -> RunRequest:
        """Build a request carrying this client's credentials (a signature when a secret is configured).

        A gateway that has authenticated its caller passes ``on_behalf_of=(username, token)``
        to publish as that user instead. ``files`` maps FileVar names to paths or binary
        file objects: each is uploaded to the store (``JOBRUNTIME_STORAGE_URL``) now and the
        request carries its reference. Raises FileTooLarge (paths are measured before
        anything is sent), StoreUnavailable, or OSError for a path that cannot be read;
        nothing stays stored when it raises.
        """
        username, token = on_behalf_of or (self.username, self.token)
        fields: dict[str, Any] = {
            "job": job, "data": data or {}, "commit": commit, "task_queue": task_queue, "profile": profile,
            "requested_by": username, "token": None if self.settings.signing_secret else token,
        }
        if job_result_id is not None:
            fields["job_result_id"] = job_result_id
        request = RunRequest(**fields)
        if files:  # uploaded once the rest of the request is known to be valid
            request = request.model_copy(update={"files": self.upload(request.job_result_id, files)})
        if self.settings.signing_secret:
            request = signed(request, self.settings.signing_secret)
        return request

    @cached_property
    def store(self) -> Store:
        """The file store uploads go to, opened on first need."""
        from jobruntime.storage import open_store

        return open_store(self.settings.effective_storage_url)

    def upload(self, job_result_id: uuid.UUID, files: Mapping[str, FileSource]) -> dict[str, FileRef]:
        """Upload files for run ``job_result_id``; every path is measured first, so an oversized one sends nothing."""
        from jobruntime.storage import discard, upload
        from jobruntime.storage.uploads import check_upload_size

        limit = self.settings.max_upload_bytes
        for variable, source in files.items():
            if isinstance(source, (str, os.PathLike)):
                check_upload_size(f"{variable}: {source}", os.stat(source).st_size, limit)
        refs: dict[str, FileRef] = {}
        try:
            for variable, source in files.items():
                refs[variable] = upload(self.store, source, job_result_id=job_result_id, variable=variable,
                                        max_bytes=limit)
        except BaseException:
            discard(self.store, refs, job_result_id)
            raise
        return refs

    def queue_for(self, request: RunRequest) -> str:
        """The queue to publish to: the request's, else the job's first task queue (from its Job record)."""
        if request.task_queue:
            return request.task_queue
        with transaction(self.runtime.autocommit_engine) as db:
            record = lookup_record(db, request.job)
        if record is None:
            return self.settings.default_queue
        return valid_queues(record, self.settings.default_queue)[0]

    def publish(self, request: RunRequest) -> str:
        """Publish with confirms; raises PublishRefused (no such queue, no worker, too large) with the reason.

        A run recorded as pending is removed again when the broker refuses it.
        """
        return self.publish_recorded(request)[0]

    def publish_recorded(self, request: RunRequest, queue: str | None = None) -> tuple[str, JobResult | None]:
        """``publish``, also returning the pending JobResult it recorded (None when it recorded none), so a
        caller that answers with the run (the HTTP gateway) need not read it back. A caller that has the
        Job record at hand passes the ``queue`` it resolved, saving a lookup."""
        queue = queue or self.queue_for(request)
        body = request.to_json()
        if len(body) > self.settings.max_request_bytes:
            raise RequestTooLarge(queue, len(body), self.settings.max_request_bytes)
        recorded = self._record_pending(request, queue) if self.record_pending else None
        try:
            self.bus.publish_run(body, queue, message_id=str(request.job_result_id))
        except BaseException:
            if recorded is not None:
                self._forget_pending(request.job_result_id)
            if request.files:
                from jobruntime.storage import discard

                discard(self.store, request.files, request.job_result_id)
            raise
        return queue, recorded

    def _record_pending(self, request: RunRequest, queue: str) -> JobResult | None:
        """Write the run's pending JobResult and return it; None when its job is unknown (the worker will say
        so), the run exists already (a request published again: the worker treats it as a duplicate), or
        the credentials prove no one: a worker leaves the run of such a request as it is, so its row
        would stay pending for ever."""
        with transaction(self.runtime.engine) as db:
            record = lookup_record(db, request.job)
            if record is None or run_name(db, request.job_result_id) is not None:
                return None
            try:
                user = check_credentials(request, *requester(db, request), self.settings.signing_secret)
            except AuthenticationFailed:
                return None
            return create_job_result(
                db, record, record.class_path, user=user, data=request.data,
                commit=request.commit, task_queue=queue, job_result_id=request.job_result_id,
            )

    def _forget_pending(self, job_result_id: uuid.UUID) -> None:
        with self.runtime.engine.begin() as connection:
            connection.execute(delete(JobResult.__table__).where(
                JobResult.__table__.c.id == job_result_id, JobResult.__table__.c.status == "pending"
            ))

    @contextmanager
    def follow(
        self, job_result_id: uuid.UUID, *, job: str | None = None, sent: bytes | None = None
    ) -> Iterator[Follower]:
        """Subscribe to a run's events; enter it before publishing so no event is missed.

        With ``job``, a worker's rejection counts only if it names that job: another job's
        request reusing the id is rejected without ending this follow. With ``sent`` (the
        body published, ``RunRequest.to_json()``), only the rejection of that very body
        counts: someone else's request naming this run cannot end the follow.
        """
        subscription = self.bus.subscribe(["job.result.*", "job.log.*", ERROR_ROUTING_KEY])
        try:
            yield Follower(subscription, job_result_id, job=job, sent=sent)
        finally:
            subscription.close()


class Follower:
    """Reads one run's events from a subscription until its final result, each event once."""

    def __init__(
        self, subscription: Any, job_result_id: uuid.UUID, *, job: str | None = None, sent: bytes | None = None
    ) -> None:
        self.subscription = subscription
        self.job_result_id = str(job_result_id)
        self.job = job
        self.request_sha256 = body_sha256(sent) if sent is not None else None
        self.seen: set[int] = set()
        self._received: set[str] = set()  # message ids: events arrive at least once
        self._held: dict[int, LogEventEntry] = {}
        self._next_seq = 1

    def events(self, *, timeout: float | None = None) -> Iterator[ResultEvent | LogEvent]:
        """The run's result and log events as they arrive, ending with its final result.

        Events are delivered at least once (an outbox row published again after a crash
        arrives again with the same ``message_id``); a repeated one is skipped, so each
        status change and each batch of log lines comes once.
        Raises ``RunRejected`` when a worker refused the request, ``FollowTimeout`` on timeout.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while deadline is None or time.monotonic() < deadline:
            received = self.subscription.receive(timeout=0.5)
            if received is None or received.message_id in self._received:
                continue
            payload = json.loads(received.body)
            if payload.get("job_result_id") != self.job_result_id:
                continue
            if received.message_id is not None:
                self._received.add(received.message_id)
            if received.routing_key == ERROR_ROUTING_KEY:
                if self._answers_mine(payload):
                    raise RunRejected(payload.get("reason") or "no reason given")
            elif received.routing_key.startswith("job.log."):
                yield LogEvent.model_validate(payload)
            elif received.routing_key.startswith("job.result."):
                event = ResultEvent.model_validate(payload)
                yield event
                if event.status in TERMINAL_STATUSES:
                    return
        raise FollowTimeout(f"No final result for {self.job_result_id} yet; check `jobruntime results show`")

    def wait(
        self,
        *,
        on_log: Callable[[LogEventEntry], None] | None = None,
        timeout: float | None = None,
    ) -> ResultEvent:
        """Block until the run ends; log entries go to ``on_log`` once each, in the order they were logged.

        A batch of entries arrives as one event per level, so an entry waits until those
        logged before it have arrived; ``seen`` tells the caller which were handed over.
        Raises ``RunRejected`` when a worker refused the request, ``FollowTimeout`` on timeout.
        """
        for event in self.events(timeout=timeout):
            if isinstance(event, LogEvent) and on_log is not None:
                self._hold(event.entries, on_log)
        if on_log is not None:
            self._hand_over(on_log, everything=True)
        return event

    def _answers_mine(self, error: dict[str, Any]) -> bool:
        """Whether a ``job.error`` naming this run answers the request this follower sent."""
        answered = error.get("request_sha256")
        if self.request_sha256 is not None and answered is not None:
            return answered == self.request_sha256
        return self.job is None or error.get("job") in (None, self.job)

    def _hold(self, entries: list[LogEventEntry], on_log: Callable[[LogEventEntry], None]) -> None:
        for entry in entries:
            if entry.seq not in self.seen:
                self._held[entry.seq] = entry
        self._hand_over(on_log)

    def _hand_over(self, on_log: Callable[[LogEventEntry], None], *, everything: bool = False) -> None:
        """Pass on held entries in sequence; ``everything`` also passes those after a gap (the run is over)."""
        for seq in sorted(self._held):
            if seq != self._next_seq and not everything:
                break
            self.seen.add(seq)
            self._next_seq = seq + 1
            on_log(self._held.pop(seq))
