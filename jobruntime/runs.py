"""Starting runs in this process: resolve the Job record and user, create the JobResult, execute.

The CLI's ``runjob --local`` and the job author's test helper both come through here,
so every entry point applies the same checks and the same pipeline.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any

from jobruntime.auth import find_user
from jobruntime.execution import RunOptions, create_job_result, execute
from jobruntime.job import Job, JobRequest
from jobruntime.job_records import find_record
from jobruntime.models import JobResult, User
from jobruntime.runlog import LogEntry
from jobruntime.runtime import Runtime


class RunRefused(ValueError):
    """The run cannot be created at all (unknown job or user); nothing was recorded."""


def _user(runtime: Runtime, username: str) -> User:
    with runtime.session(autocommit=True) as session:
        user = find_user(session, username)
    if user is None:
        raise RunRefused("No such user")
    return user


def run_local(
    runtime: Runtime,
    class_path: str,
    *,
    data: Any = None,
    commit: bool | None = None,
    username: str | None = None,
    profile: bool = False,
    job_class: type[Job] | None = None,
    listeners: Iterable[Callable[[LogEntry], None]] = (),
) -> JobResult:
    """Create a JobResult for ``class_path`` and run it to completion in this process."""
    user = _user(runtime, username) if username else None
    request = (
        JobRequest(user=user, id=str(uuid.uuid4()), server_name="jobruntime_runjob") if user is not None else None
    )
    with runtime.session(autocommit=True) as session:
        record = find_record(session, class_path)
        if record is None:
            raise RunRefused(f'Job "{class_path}" not found')
        result = create_job_result(
            session, record, class_path, user_id=user.id if user else None, data=data, commit=commit, claimed=True
        )
    options = RunOptions(
        data=data, commit=commit, request=request, profile=profile, job_class=job_class, listeners=tuple(listeners)
    )
    result.user = user
    return execute(runtime, result, options)
