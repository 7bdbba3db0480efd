"""What a worker reads before it lets a run request in, read in one statement.

Admitting a request takes four facts: the Job record it names, the run's row
if it exists (a duplicate, a re-queued or a pending run), the user its
credentials point at, and whether that user holds the permission on the job.
Read one after the other they cost four round trips and their Python on every
run; joined, one. The judging stays where it belongs (``auth``, ``leases``):
this module only fetches.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import threading
import time
import uuid
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import and_, bindparam, exists, literal, or_, select

from jobruntime.authoring.records import BY_CLASS_PATH, record_parameters
from jobruntime.models import Job as JobRecord
from jobruntime.models import JobResult, ObjectPermission, Token, User
from jobruntime.run.auth import token_hash
from jobruntime.store.prebuilt import DriverConnection, Prebuilt, as_model, rows_each

_JOBS = JobRecord.__table__
_RUNS = JobResult.__table__.alias("run")
_USERS = User.__table__.alias("requester")
_TOKENS = Token.__table__
_GRANTS = ObjectPermission.__table__
READ_AHEAD_MAX_AGE = 0.5  # seconds an admission fact read ahead may wait for its delivery
# Of the run's row (see ``leases.rerun_request``).
RUN_COLUMNS = ("name", "user_id", "request", "attempt", "status", "created", "schedule_id")


@dataclass(frozen=True)
class Admission:
    """The facts about one request; ``record`` None means its job does not exist (and the rest was not read)."""

    record: JobRecord | None
    run: dict[str, Any] | None = None  # the run's row (RUN_COLUMNS), if it exists
    user: User | None = None  # whom the credentials name: the token's holder, else ``requested_by``
    token_expires: dt.datetime | None = None
    granted: bool = False  # the user holds the action on this job or on every job


def read_admission(db: DriverConnection, request: Asking, action: str) -> Admission:
    """The facts about ``request`` for ``action``, in one round trip."""
    query = _query(request, action)
    if query is None:
        return Admission(None)
    statement, parameters = query
    return _admission(statement.first(db, parameters))


class Asking(Protocol):
    """What of a run request the facts depend on (a ``RunRequest``, or a peek at a waiting body)."""

    job: str
    job_result_id: uuid.UUID
    token: str | None
    signature: str | None
    requested_by: str | None


class AdmissionReadAhead:
    """Admission facts of the requests waiting behind the one in hand, read with it in one round trip.

    In a backlog the deliveries prefetched behind a run are runs too, each needing its own
    read before it may start. On a miss this reads the facts of the request in hand and of
    every waiting one together (``rows_each``), and keeps the others' for when their turn
    comes. Each kept answer is the one ``read_admission`` would have given when it was read,
    with exactly the same statement and parameters; it is used once, and not at all once
    ``max_age`` old, so a revoked grant or a disabled job stops runs as soon as without
    reading ahead, give or take ``max_age``. A run whose row changed in between is safe
    either way: the claim and the deciding write take over only a new or pending row of the
    same job and user, whatever was read before.
    """

    def __init__(self, max_age: float = READ_AHEAD_MAX_AGE) -> None:
        self.max_age = max_age
        self._facts: dict[Hashable, tuple[float, Admission]] = {}  # by query: (when read, answer)
        self._lock = threading.Lock()

    def read(
        self, db: DriverConnection, request: Asking, action: str, waiting: Callable[[], Sequence[bytes]]
    ) -> Admission:
        """The facts about ``request``, read ahead earlier or now with those of the ``waiting`` bodies."""
        query = _query(request, action)
        if query is None:
            return Admission(None)
        key = _key(query)
        now = time.monotonic()
        with self._lock:
            found = self._facts.pop(key, None)
            if found is not None and now - found[0] <= self.max_age:
                return found[1]
            self._facts = {kept: fact for kept, fact in self._facts.items() if now - fact[0] <= self.max_age}
            queries = {key: query}
            for body in waiting():
                peeked = _peek(body)
                ahead = _query(peeked, action) if peeked is not None else None
                ahead_key = _key(ahead) if ahead is not None else None
                if ahead_key is not None and ahead_key not in self._facts:
                    queries.setdefault(ahead_key, ahead)
        answers = [_admission(rows[0] if rows else None) for rows in rows_each(db, list(queries.values()))]
        with self._lock:
            self._facts.update((kept, (now, answer)) for kept, answer in zip(queries, answers, strict=True))
            return self._facts.pop(key)[1]


@dataclass(frozen=True)
class _Peek:
    job: str
    job_result_id: uuid.UUID
    token: str | None
    signature: str | None
    requested_by: str | None


def _peek(body: bytes) -> _Peek | None:
    """The fields of a waiting body the facts depend on; None if they do not parse (its handler will say why)."""
    try:
        fields = json.loads(body)
        peeked = _Peek(fields["job"], uuid.UUID(fields["job_result_id"]), fields.get("token"),
                       fields.get("signature"), fields.get("requested_by"))
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return None
    text = (peeked.job, peeked.token, peeked.signature, peeked.requested_by)
    return peeked if all(value is None or isinstance(value, str) for value in text) else None


def _query(request: Asking, action: str) -> tuple[Prebuilt, dict[str, Any]] | None:
    record_key = record_parameters(request.job)
    if record_key is None:
        return None
    by_token = request.signature is None and request.token is not None
    parameters: dict[str, Any] = {**record_key, "job_result_id": request.job_result_id, "action": action}
    parameters |= {"key_hash": token_hash(request.token)} if by_token else {"username": request.requested_by}
    return _statement("id" in record_key, by_token), parameters


def _key(query: tuple[Prebuilt, dict[str, Any]]) -> Hashable:
    statement, parameters = query
    return id(statement), tuple(sorted(parameters.items()))


def _admission(row: dict[str, Any] | None) -> Admission:
    if row is None:
        return Admission(None)
    record = as_model(JobRecord, {column.key: row[column.key] for column in _JOBS.c})
    run = {column: row[f"run_{column}"] for column in RUN_COLUMNS} if row["run_status"] is not None else None
    user = None
    if row["requester_id"] is not None:
        user = as_model(User, {column.key: row[f"requester_{column.key}"] for column in _USERS.c})
    return Admission(record, run, user, row["token_expires"], bool(row["granted"]))


@functools.cache
def _statement(by_id: bool, by_token: bool) -> Prebuilt:
    """The Job record, outer-joined to the run's row and to the requester with their grant."""
    if by_token:
        holders = _TOKENS.join(_USERS, _USERS.c.id == _TOKENS.c.user_id)
        joined = _JOBS.outerjoin(_RUNS, _RUNS.c.id == bindparam("job_result_id")).outerjoin(
            holders, _TOKENS.c.key_hash == bindparam("key_hash"))
        token_expires = _TOKENS.c.expires
    else:
        joined = _JOBS.outerjoin(_RUNS, _RUNS.c.id == bindparam("job_result_id")).outerjoin(
            _USERS, _USERS.c.username == bindparam("username"))
        token_expires = literal(None, type_=_TOKENS.c.expires.type)
    granted = exists().where(
        _GRANTS.c.user_id == _USERS.c.id,
        _GRANTS.c.action == bindparam("action"),
        or_(_GRANTS.c.job_id == _JOBS.c.id, _GRANTS.c.job_id.is_(None)),
    )
    condition = _JOBS.c.id == bindparam("id") if by_id else and_(*BY_CLASS_PATH)
    return Prebuilt(
        select(
            *_JOBS.c,
            *(_RUNS.c[column].label(f"run_{column}") for column in RUN_COLUMNS),
            *(column.label(f"requester_{column.key}") for column in _USERS.c),
            token_expires.label("token_expires"),
            granted.label("granted"),
        ).select_from(joined).where(condition)
    )
