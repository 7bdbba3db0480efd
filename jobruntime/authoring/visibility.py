"""Per-requester scopes of the bookkeeping models, and the lookup paths input may not take.

A variable may target a bookkeeping model; the requester then chooses only among
the rows the scope below lets them see, superusers among all of them:

- ``JobResult``: the requester's own runs; ``JobLogEntry``: the entries of those runs.
- ``User``: the requester themself; ``ObjectPermission``: the requester's own grants.
- ``Job``: the jobs the requester may run (a ``run_job`` grant on that job or on every job).
- ``Token`` and ``OutboxEvent``: nobody, superusers included (a token's hash and the
  queued events are nothing a job needs as input).

A lookup given as input never leads into any of these models from another one
(``{"job_result__user__username": ...}`` on a log entry,
``{"results__data__icontains": ...}`` on a job):
the scope applies to the variable's own model only, so a path through a relation
would search rows outside it. Both refusals read the same whatever the data holds.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import sqlalchemy as sa

from jobruntime.core.errors import RefusalError
from jobruntime.models import Job, JobLogEntry, JobResult, ObjectPermission, OutboxEvent, QuerySet, Token, User
from jobruntime.models.lookups import related_models
from jobruntime.models.users import RUN_JOB

M = TypeVar("M")


class NotSelectable(RefusalError, LookupError):
    """The variable's model is one whose rows job input may never name."""


def _own_results(user_id: uuid.UUID) -> sa.ColumnElement[bool]:
    return JobResult.user_id == user_id


def _runnable_jobs(user_id: uuid.UUID) -> sa.ColumnElement[bool]:
    grants = ObjectPermission.__table__
    return sa.exists().where(
        grants.c.user_id == user_id,
        grants.c.action == RUN_JOB,
        (grants.c.job_id == Job.id) | grants.c.job_id.is_(None),
    )


_SCOPES: dict[type, Callable[[uuid.UUID], sa.ColumnElement[bool]]] = {
    JobResult: _own_results,
    JobLogEntry: lambda user_id: JobLogEntry.job_result_id.in_(sa.select(JobResult.id).where(_own_results(user_id))),
    User: lambda user_id: User.id == user_id,
    ObjectPermission: lambda user_id: ObjectPermission.user_id == user_id,
    Job: _runnable_jobs,
}
_NEVER: frozenset[type] = frozenset({Token, OutboxEvent})
_BOOKKEEPING: frozenset[type] = frozenset(_SCOPES) | _NEVER


def visible_objects(model: type[M], requester: User | None) -> QuerySet[M]:
    """The rows of ``model`` that ``requester`` may name in job input (every row of an inventory model).

    Nobody (``None``: an unauthenticated local run) sees bookkeeping rows. Raises
    :class:`NotSelectable` for a model no one may name.
    """
    if model in _NEVER:
        raise NotSelectable(f"{model.__name__} objects cannot be chosen as job input.")
    scope = _SCOPES.get(model)
    if scope is None or (requester is not None and requester.is_superuser):
        return model.objects.all()
    return model.objects.filter(sa.false() if requester is None else scope(requester.id))


def refused_lookup(model: type, lookups: Mapping[str, Any]) -> str | None:
    """Why input lookups on ``model`` may not run (the first path leading into a bookkeeping model), or None."""
    for path in lookups:
        for reached in related_models(model, path):
            if reached in _BOOKKEEPING:
                return (
                    f'The lookup "{path}" leads into {reached.__name__} records, which job input may not search; '
                    f"name the object by its own fields or by its pk."
                )
    return None
