"""What every request handler of the gateway shares, built once per process: the database and one publisher."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from starlette.requests import Request

from jobruntime.bus.broker import Bus, Subscription
from jobruntime.bus.messages import RunRequest
from jobruntime.bus.outbox import OutboxRelay
from jobruntime.client import Client
from jobruntime.core.clock import as_utc, utcnow
from jobruntime.core.settings import Settings
from jobruntime.models import JobResult, ObjectPermission, User, bind_session
from jobruntime.run.auth import has_permission, token_holder
from jobruntime.run.runtime import Runtime
from jobruntime.storage import discard
from jobruntime.store.prebuilt import transaction
from jobruntime.web.errors import INVALID_TOKEN, NOT_AUTHENTICATED, detail

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caller:
    """An authenticated API user and the token they presented (forwarded to the worker, never logged)."""

    user: User
    token: str

    def __repr__(self) -> str:
        return f"Caller(user={self.user.username!r})"


class Gateway:
    """The gateway's process-wide state: settings, database engines, and a publisher.

    The publisher is one broker connection shared by request threads, so publishes
    take a lock; a publish with confirms is short, and the connection is never
    set up per request.
    """

    def __init__(self, settings: Settings, runtime: Runtime | None = None) -> None:
        self.settings = settings
        self.runtime = runtime or Runtime.from_settings(settings)
        self._client: Client | None = None
        self._lock = threading.Lock()
        self._events = Bus(settings)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """An ORM session with ``Model.objects`` bound (input validation looks objects up through it)."""
        with self.runtime.session() as session, bind_session(session):
            yield session

    def authenticate(self, authorization: str | None) -> Caller:
        """The caller an ``Authorization: Token <key>`` header names; 403 as Nautobot answers otherwise."""
        if not authorization:
            raise detail(403, NOT_AUTHENTICATED)
        scheme, _, key = authorization.partition(" ")
        key = key.strip()
        if scheme.lower() != "token" or not key:
            raise detail(403, NOT_AUTHENTICATED)
        with transaction(self.runtime.autocommit_engine) as db:
            user, expires = token_holder(db, key)
        if user is None:
            self.refused(None, INVALID_TOKEN)
            raise detail(403, INVALID_TOKEN)
        if expires is not None and as_utc(expires) <= utcnow():  # as run.auth.check_credentials judges it
            self.refused(user.username, "Token expired")
            raise detail(403, "Token expired")
        if not user.is_active:
            self.refused(user.username, "User inactive or deleted.")
            raise detail(403, "User inactive or deleted.")
        return Caller(user, key)

    def caller_of(self, request: Request) -> Caller:
        """The caller of an API request: its token header, else, for a read, the browser's signed-in session.

        The session counts only for GET so that a cross-site form can never make a
        signed-in browser change anything; the web pages' own forms carry a CSRF token.
        """
        header = request.headers.get("authorization")
        if header is None and request.method == "GET" and "session" in request.scope:
            key = request.session.get("token")
            if key:
                header = f"Token {key}"
        return self.authenticate(header)

    def may(self, caller: Caller, action: str, record: Any) -> bool:
        with transaction(self.runtime.autocommit_engine) as db:
            return has_permission(db, caller.user, action, record)

    def has_any_grant(self, caller: Caller, action: str) -> bool:
        """Whether the caller may ``action`` some job: a user without any grant gets 403, others 404."""
        with self.runtime.session(autocommit=True) as session:
            return session.scalar(sa.select(sa.exists().where(
                ObjectPermission.user_id == caller.user.id, ObjectPermission.action == action))) or False

    def refused(self, username: str | None, reason: str) -> None:
        """Log a refusal with who and why: operators see abuse, and never a token."""
        log.warning("refused %s: %s", username or "anonymous", reason)

    def request(self, caller: Caller, job: str, **fields: Any) -> RunRequest:
        """The caller's run request; ``files`` (file objects by variable) are streamed to the store first.

        Outside the publisher's lock: building a request and uploading use no broker connection.
        """
        with self._lock:
            publisher = self._publisher()
        return publisher.request(job, on_behalf_of=(caller.user.username, caller.token), **fields)

    def discard_uploads(self, request: RunRequest) -> None:
        """Remove the uploads of a request that was never published."""
        if request.files:
            with self._lock:
                publisher = self._publisher()
            discard(publisher.store, request.files, request.job_result_id)

    def publish(self, request: RunRequest, queue: str) -> JobResult | None:
        """Record the run pending and publish it to ``queue``; returns the pending row (None when the job is
        unknown to the database). Raises PublishRefused (no such queue, no worker)."""
        with self._lock:
            return self._publisher().publish_recorded(request, queue)[1]

    def publish_rows(self, rows: list[dict[str, Any]]) -> None:
        """Publish outbox rows this process just committed (a dry run's request), and stamp them published."""
        with self._lock:
            relay = OutboxRelay(self.runtime.engine, self._publisher().bus)
            relay.publish_rows(rows)
            relay.close()

    def subscribe(self) -> Subscription:
        """A live feed of run events (results and log lines): its own broker connection, for one stream."""
        return self._events.subscribe(["job.result.*", "job.log.*"])

    def _publisher(self) -> Client:
        if self._client is None:
            self._client = Client(self.settings, username="", record_pending=True)
        return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
        self.runtime.engine.dispose()
        self.runtime.autocommit_engine.dispose()
