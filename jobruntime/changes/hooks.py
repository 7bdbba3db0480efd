"""Job hooks: the rules a hook must keep, and the runs a committed change starts.

A hook's runs are outbox rows on the run exchange, written in the transaction that
records the change: they are published only once it commits, a crash before
publication leaves them for the sweep, and each run's ``job_result_id`` is derived
from the hook and the change, so a second publication is a duplicate delivery.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jobruntime.bus.outbox import RUN_EXCHANGE, add_events, event_row
from jobruntime.changes.recorder import JOB_HOOK, Change, write_changes
from jobruntime.changes.snapshot import change_logged_labels, change_logged_model
from jobruntime.core.errors import RefusalError
from jobruntime.core.settings import Settings
from jobruntime.models import Job as JobRecord
from jobruntime.models import JobHook, model_for_label
from jobruntime.models.changes import ACTIONS
from jobruntime.store.prebuilt import DriverConnection, Prebuilt, pipelined

_HOOK = JobHook.__table__
_JOB = JobRecord.__table__
_ENABLED_HOOKS = Prebuilt(
    select(_HOOK.c.id, _HOOK.c.content_types, _HOOK.c.type_create, _HOOK.c.type_update, _HOOK.c.type_delete,
           _JOB.c.source, _JOB.c.module_name, _JOB.c.job_class_name, _JOB.c.read_only, _JOB.c.task_queues)
    .join(_JOB, _JOB.c.id == _HOOK.c.job_id)
    .where(_HOOK.c.enabled.is_(True))
)


class InvalidJobHook(RefusalError, ValueError):
    """A hook that breaks one of the rules below; the message says which and how to fix it, ``field`` where."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def model_verbose_name(label: str) -> str:
    """``app | model name`` as Nautobot prints a content type: ``dcim | device type``."""
    app, _, _ = label.partition(".")
    words = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", model_for_label(label).__name__)
    return f"{app} | {words.lower()}"


def check_hook(session: Session, hook: JobHook) -> None:
    """Raise InvalidJobHook unless ``hook`` may be saved: an action, a receiver job, change-logged types, no conflict.

    The conflict rule: two hooks may not share their job, a content type and an action.
    """
    if not hook.actions:
        raise InvalidJobHook("You must select at least one type: create, update, and/or delete.", "type_create")
    job = hook.job
    if job is None or not job.is_job_hook_receiver:
        name = job.class_path if job is not None else "(none)"
        raise InvalidJobHook(
            f"Job {name} is not a job hook receiver: subclass JobHookReceiver, implement receive_job_hook() "
            f"and run `jobruntime sync`", "job"
        )
    if not hook.content_types:
        raise InvalidJobHook("Choose at least one content type, e.g. dcim.device", "content_types")
    for label in hook.content_types:
        if change_logged_model(label) is None:
            raise InvalidJobHook(f'"{label}" is not a change-logged model; choose from: {", ".join(change_logged_labels())}',
                                 "content_types")
    others = session.scalars(select(JobHook).where(JobHook.job_id == job.id, JobHook.id != hook.id)).all()
    for other in others:
        for label in hook.content_types:
            if label not in other.content_types:
                continue
            for action in hook.actions:
                if action in other.actions:
                    raise InvalidJobHook(
                        f"A job hook already exists for {action} on {model_verbose_name(label)} to job {job.name}",
                        f"type_{action}",
                    )


def hook_run_id(hook_id: uuid.UUID, change_id: uuid.UUID) -> uuid.UUID:
    """The run a hook starts for a change: the same pair always names the same run."""
    return uuid.uuid5(hook_id, str(change_id))


def hook_runs(db: DriverConnection, changes: Sequence[Change], hooks: Sequence[dict[str, Any]], *,
              signing_secret: str | None, default_queue: str) -> list[dict[str, Any]]:
    """Write the outbox rows of the runs ``changes`` start (given the enabled ``hooks``) and return them.

    A hook run's own changes start none (no loops).
    """
    runs = [_run_row(hook, change, signing_secret, default_queue)
            for change in _starting(changes) for hook in _matching(hooks, change.row)]
    return add_events(db, runs) if runs else []


def _starting(changes: Sequence[Change]) -> list[Change]:
    return [change for change in changes if change.row["change_context"] != JOB_HOOK]


def _matching(hooks: Iterable[dict[str, Any]], row: dict[str, Any]) -> Iterable[dict[str, Any]]:
    action = row["action"]
    for hook in hooks:
        if action in ACTIONS and hook[f"type_{action}"] and row["changed_object_type"] in hook["content_types"]:
            yield hook


def _run_row(hook: dict[str, Any], change: Change, signing_secret: str | None,
             default_queue: str) -> dict[str, Any]:
    """The run request of one hook for one change: by the change's user, on the receiver's first queue.

    The wire schemas are imported here, when a hook matches: a run that starts none does not load them.
    """
    from jobruntime.bus.messages import RunRequest
    from jobruntime.run.auth import signed

    row = change.row
    queue = (hook["task_queues"] or [default_queue])[0]
    request = RunRequest(
        job=f"{hook['source']}/{hook['module_name']}/{hook['job_class_name']}",
        data={"object_change": str(row["id"])},
        commit=not hook["read_only"],
        task_queue=queue,
        job_result_id=hook_run_id(hook["id"], row["id"]),
        requested_by=change.requested_by or row["user_name"] or "Undefined",
    )
    if signing_secret:
        request = signed(request, signing_secret)
    return event_row(RUN_EXCHANGE, queue, request.model_dump(mode="json"))


def write_with_hook_runs(db: DriverConnection, changes: Sequence[Change], settings: Settings, *,
                         events: bool) -> list[dict[str, Any]]:
    """Write ``changes`` (with their events when ``events``) and the hook runs they start, in ``db``'s transaction.

    The changes, their events and the read of the enabled hooks go to the database together
    (one round trip where it can pipeline); only runs that hooks start cost another.
    Returns the outbox rows, to hand to the relay once the transaction commits.
    """
    if not changes:
        return []
    changes = list(changes)
    with pipelined(db):
        written = write_changes(db, changes, events=events)
        enabled = _ENABLED_HOOKS.execute(db) if _starting(changes) else None
    hooks = _ENABLED_HOOKS.rows_of(db, enabled) if enabled is not None else []
    return written + hook_runs(db, changes, hooks, signing_secret=settings.signing_secret,
                               default_queue=settings.default_queue)
