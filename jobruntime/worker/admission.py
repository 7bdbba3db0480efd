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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, exists, literal, or_, select

from jobruntime.run.auth import token_hash
from jobruntime.authoring.records import BY_CLASS_PATH, record_parameters
from jobruntime.models import Job as JobRecord
from jobruntime.models import JobResult, ObjectPermission, Token, User
from jobruntime.store.prebuilt import DriverConnection, Prebuilt, as_model

if TYPE_CHECKING:
    from jobruntime.bus.messages import RunRequest

_JOBS = JobRecord.__table__
_RUNS = JobResult.__table__.alias("run")
_USERS = User.__table__.alias("requester")
_TOKENS = Token.__table__
_GRANTS = ObjectPermission.__table__
RUN_COLUMNS = ("name", "request", "attempt", "status", "created")  # of the run's row (see ``leases.rerun_request``)


@dataclass(frozen=True)
class Admission:
    """The facts about one request; ``record`` None means its job does not exist (and the rest was not read)."""

    record: JobRecord | None
    run: dict[str, Any] | None = None  # the run's row (RUN_COLUMNS), if it exists
    user: User | None = None  # whom the credentials name: the token's holder, else ``requested_by``
    token_expires: dt.datetime | None = None
    granted: bool = False  # the user holds the action on this job or on every job


def read_admission(db: DriverConnection, request: RunRequest, action: str) -> Admission:
    """The facts about ``request`` for ``action``, in one round trip."""
    record_key = record_parameters(request.job)
    if record_key is None:
        return Admission(None)
    by_token = request.signature is None and request.token is not None
    parameters: dict[str, Any] = {**record_key, "job_result_id": request.job_result_id, "action": action}
    parameters |= {"key_hash": token_hash(request.token)} if by_token else {"username": request.requested_by}
    row = _statement("id" in record_key, by_token).first(db, parameters)
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
