"""Whether a request may change the run its ``job_result_id`` names.

A run's row belongs to the job and the user it was recorded for. A request for
another job, or from another user, reusing that id is a conflict: the run is left
as it is and the requester is told why. That holds for refusals too: ending a
pending run with someone else's refusal is the same harm as running it as
someone else.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from jobruntime.models import User


def conflict(job_result_id: uuid.UUID, run: Mapping[str, Any] | None, job: str, user: User | None) -> str | None:
    """Why a request for ``job`` by ``user`` may not touch ``run`` (the row its id names, or None), or None if it may.

    ``run`` needs the ``name`` and ``user_id`` columns. A row without a user belongs to
    nobody who could prove it, so no request may change it.
    """
    if run is None:
        return None
    if run["name"] != job:
        return another_jobs(job_result_id, run["name"])
    if user is None or run["user_id"] != user.id:
        return (f"job_result_id {job_result_id} already belongs to another user's run of {job}; "
                f"give every request a new id")
    return None


def another_jobs(job_result_id: uuid.UUID, owner: str) -> str:
    """The conflict of a request reusing the id of a run of the job ``owner`` (another job)."""
    return f"job_result_id {job_result_id} already belongs to a run of {owner}; give every request a new id"
