"""The base class of jobs that job hooks run: ``receive_job_hook(change, action, changed_object)``."""

from __future__ import annotations

from typing import Any, ClassVar

from jobruntime.authoring.job import Job
from jobruntime.authoring.variables import ObjectVar
from jobruntime.models import Base, ObjectChange


class JobHookReceiver(Job):
    """Subclass and implement :meth:`receive_job_hook`; a JobHook then runs it once per matching change.

    Its runs' own changes are recorded with context ``job-hook`` and start no hooks.
    """

    is_job_hook_receiver: ClassVar[bool] = True
    object_change = ObjectVar(model=ObjectChange, description="The change that started this run")

    def run(self, data: dict[str, Any], commit: bool) -> Any:
        change: ObjectChange = data["object_change"]
        return self.receive_job_hook(change=change, action=change.action, changed_object=change.changed_object)

    def receive_job_hook(self, change: ObjectChange, action: str, changed_object: Base | None) -> Any:
        """React to one committed change; ``changed_object`` is None once the object is deleted."""
        raise NotImplementedError(f"{type(self).__name__} must implement receive_job_hook()")

