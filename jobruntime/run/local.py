"""Starting runs in this process: resolve the Job record and user, create the JobResult, execute.

The CLI's ``runjob --local`` and the job author's test helper both come through here,
so every entry point applies the same checks and the same pipeline.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from jobruntime.authoring.discovery import split_class_path
from jobruntime.authoring.job import Job, JobRequest
from jobruntime.authoring.records import lookup_record
from jobruntime.core.errors import RefusalError
from jobruntime.models import JobResult
from jobruntime.run.auth import find_user
from jobruntime.run.execution import RunOptions, create_job_result, execute
from jobruntime.run.log import LogEntry
from jobruntime.run.runtime import Runtime
from jobruntime.store.prebuilt import transaction


class RunRefused(RefusalError, ValueError):
    """The run cannot be created at all (unknown job or user); nothing was recorded."""


def run_local(
    runtime: Runtime,
    class_path: str,
    *,
    data: Any = None,
    files: Mapping[str, Any] | None = None,
    commit: bool | None = None,
    username: str | None = None,
    profile: bool = False,
    job_class: type[Job] | None = None,
    listeners: Iterable[Callable[[LogEntry], None]] = (),
) -> JobResult:
    """Create a JobResult for ``class_path`` and run it to completion in this process.

    ``files`` are FileVar values (file objects), given to ``run()`` with ``data`` but never stored.
    Raises RunRefused for an unknown user or job, InvalidClassPath for a malformed class_path.
    """
    split_class_path(class_path)
    with transaction(runtime.autocommit_engine) as db:
        user = find_user(db, username) if username else None
        if username and user is None:
            raise RunRefused("No such user")
        record = lookup_record(db, class_path)
        if record is None:
            raise RunRefused(f'Job "{class_path}" not found')
        result = create_job_result(db, record, class_path, user=user, data=data, commit=commit, claimed=True)
    request = (
        JobRequest(user=user, id=str(uuid.uuid4()), server_name="jobruntime_runjob") if user is not None else None
    )
    if files:
        data = {**(data or {}), **files}
    options = RunOptions(
        data=data, commit=commit, request=request, profile=profile, job_class=job_class, listeners=tuple(listeners)
    )
    return execute(runtime, result, options)
