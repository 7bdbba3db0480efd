"""Who may run what, and where: credentials, per-job permissions and task queues.

Run requests arrive from anyone who can publish to the broker, so a worker
trusts a request only when it proves who sent it: either an API token that
belongs to ``requested_by``, or an HMAC signature made with the secret shared
by internal publishers (scheduler, job hooks, the ops CLI). Only the SHA-256 of
a token is stored, so a database dump does not leak usable keys.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from jobruntime.core.clock import as_utc, utcnow
from jobruntime.core.errors import RefusalError
from jobruntime.models import Job as JobRecord
from jobruntime.models import ObjectPermission, Token, User
from jobruntime.models.users import ACTIONS, APPROVE_JOB, CHANGE_JOB, RUN_JOB  # noqa: F401 - the actions callers check here
from jobruntime.store.prebuilt import DriverConnection, Prebuilt, as_model

if TYPE_CHECKING:  # the wire schemas (pydantic) are not needed to check a local run
    from jobruntime.bus.messages import RunRequest

ACTION_MAX_LENGTH = 50


class AuthenticationFailed(RefusalError, PermissionError):
    """The request does not prove that ``requested_by`` sent it."""


class PermissionDenied(RefusalError, PermissionError):
    """The authenticated user may not do this to this job."""


class InvalidQueue(RefusalError, ValueError):
    """The requested task queue is not one the job may run on."""


def token_hash(key: str) -> str:
    """What is stored of a token: its SHA-256, hex."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_token(session: Session, user: User, *, description: str = "", expires: dt.datetime | None = None) -> str:
    """Create an API token for ``user`` and return its key, which is not stored and cannot be shown again.

    The token is flushed, not committed: the caller owns the transaction.
    """
    key = secrets.token_urlsafe(32)
    session.add(Token(user_id=user.id, key_hash=token_hash(key), description=description, expires=expires))
    session.flush()
    return key


def sign(request: RunRequest, secret: str) -> str:
    """Hex HMAC-SHA256 of the request without its credentials (``RunRequest.canonical_bytes``)."""
    return hmac.new(secret.encode(), request.canonical_bytes(), hashlib.sha256).hexdigest()


def signed(request: RunRequest, secret: str) -> RunRequest:
    """A copy of ``request`` carrying its signature, as an internal publisher sends it."""
    return request.model_copy(update={"signature": sign(request, secret)})


_USERS = User.__table__
_TOKENS = Token.__table__
_GRANTS = ObjectPermission.__table__
_USER_BY_NAME = Prebuilt(select(_USERS).where(_USERS.c.username == bindparam("username")))
_USER_BY_TOKEN = Prebuilt(
    select(_TOKENS.c.expires.label("token_expires"), *_USERS.c)
    .join(_USERS, _USERS.c.id == _TOKENS.c.user_id)
    .where(_TOKENS.c.key_hash == bindparam("key_hash"))
)
_GRANT = Prebuilt(
    select(_GRANTS.c.id).where(
        _GRANTS.c.user_id == bindparam("user_id"),
        _GRANTS.c.action == bindparam("action"),
        (_GRANTS.c.job_id == bindparam("job_id")) | _GRANTS.c.job_id.is_(None),
    ).limit(1)
)


def find_user(db: DriverConnection, username: str) -> User | None:
    """The user called ``username``, as a snapshot (see ``prebuilt.as_model``)."""
    row = _USER_BY_NAME.first(db, {"username": username})
    return None if row is None else as_model(User, row)


def requester(db: DriverConnection, request: RunRequest) -> tuple[User | None, dt.datetime | None]:
    """The user the request's credentials point at, and the token's expiry: the database half of ``authenticate``.

    A token names its holder; otherwise (a signature, or nothing) the request's ``requested_by`` is looked up.
    """
    if request.signature is None and request.token is not None:
        return token_holder(db, request.token)
    return find_user(db, request.requested_by), None


def token_holder(db: DriverConnection, key: str) -> tuple[User | None, dt.datetime | None]:
    """The user holding the token ``key`` and the token's expiry, or (None, None) for an unknown key."""
    row = _USER_BY_TOKEN.first(db, {"key_hash": token_hash(key)})
    if row is None:
        return None, None
    expires = row.pop("token_expires")
    return as_model(User, row), expires


def check_credentials(
    request: RunRequest, user: User | None, token_expires: dt.datetime | None, signing_secret: str | None
) -> User:
    """The active user the request may act as, given what ``requester`` found; raises AuthenticationFailed saying why not.

    A request that carries a signature is judged by its signature alone (a bad
    signature is never rescued by a token), because a wrong signature means a
    misconfigured or forged internal publisher, which should be noticed.
    """
    if request.signature is not None:
        if not signing_secret:
            raise AuthenticationFailed("Signed request refused: no signing secret is configured on this worker")
        if not hmac.compare_digest(sign(request, signing_secret), request.signature):
            raise AuthenticationFailed("Invalid signature")
    elif request.token is not None:
        if user is None or user.username != request.requested_by:
            raise AuthenticationFailed(f"Invalid token for user {request.requested_by}")
        if token_expires is not None and as_utc(token_expires) <= utcnow():
            raise AuthenticationFailed("Token expired")
    else:
        raise AuthenticationFailed("No credentials: the request carries neither a token nor a signature")
    if user is None:
        raise AuthenticationFailed(f"No such user: {request.requested_by}")
    if not user.is_active:
        raise AuthenticationFailed(f"User {user.username} is inactive")
    return user


def authenticate(db: DriverConnection, request: RunRequest, signing_secret: str | None) -> User:
    """The active user the request may act as; raises AuthenticationFailed saying why not (see ``check_credentials``)."""
    return check_credentials(request, *requester(db, request), signing_secret)


def has_permission(db: DriverConnection, user: User, action: str, job_record: JobRecord) -> bool:
    """Superusers may do anything; others need a grant for this job or for every job."""
    if user.is_superuser:
        return True
    return _GRANT.first(db, {"user_id": user.id, "action": action, "job_id": job_record.id}) is not None


def require_permission(db: DriverConnection, user: User, action: str, job_record: JobRecord) -> None:
    """Raise PermissionDenied unless ``has_permission``."""
    check_permission(user, action, job_record, has_permission(db, user, action, job_record))


def check_permission(user: User, action: str, job_record: JobRecord, granted: bool) -> None:
    """Raise PermissionDenied unless ``user`` is a superuser or ``granted`` (a grant was found) is true."""
    if user.is_superuser or granted:
        return
    what = "to run job" if action == RUN_JOB else f'"{action}" on job'
    raise PermissionDenied(f"User {user.username} does not have permission {what} {job_record.class_path}")


def grant(session: Session, user: User, action: str, job_record: JobRecord | None = None) -> ObjectPermission:
    """Allow ``user`` to ``action`` one job (or every job when ``job_record`` is None).

    Granting twice returns the existing permission. Flushed, not committed.
    Raises ValueError for an action name the database cannot hold.
    """
    if not 0 < len(action) <= ACTION_MAX_LENGTH:
        raise ValueError(f"An action name must be 1 to {ACTION_MAX_LENGTH} characters, e.g. {RUN_JOB}")
    job_id = job_record.id if job_record is not None else None
    existing = session.scalars(
        select(ObjectPermission).where(
            ObjectPermission.user_id == user.id,
            ObjectPermission.action == action,
            ObjectPermission.job_id.is_(None) if job_id is None else ObjectPermission.job_id == job_id,
        )
    ).first()
    if existing is not None:
        return existing
    permission = ObjectPermission(user_id=user.id, action=action, job_id=job_id)
    session.add(permission)
    session.flush()
    return permission


def valid_queues(job_record: JobRecord, default_queue: str) -> list[str]:
    """The queues a job may run on: its ``task_queues``, or the default queue when it names none."""
    return list(job_record.task_queues or ()) or [default_queue]


def check_queue(job_record: JobRecord, queue: str | None, default_queue: str) -> str:
    """The queue to run on: ``queue`` if the job allows it, the job's first queue when None.

    Raises InvalidQueue naming the valid queues otherwise.
    """
    choices = valid_queues(job_record, default_queue)
    if queue is None:
        return choices[0]
    if queue not in choices:
        raise InvalidQueue(
            f'"{queue}" is not a valid task queue for {job_record.class_path}; valid queues: {", ".join(choices)}'
        )
    return queue
