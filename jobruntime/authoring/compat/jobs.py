"""What ``nautobot.extras.jobs`` provides: the Job class, every variable, and the receiver bases."""

from __future__ import annotations

from typing import Any

from jobruntime.authoring.job import Job
from jobruntime.authoring.variables import (
    BooleanVar,
    ChoiceVar,
    FileVar,
    IntegerVar,
    IPAddressVar,
    IPAddressWithMaskVar,
    IPNetworkVar,
    MultiChoiceVar,
    MultiObjectVar,
    ObjectVar,
    ScriptVariable,
    StringVar,
    TextVar,
)

BaseJob = Job


class JobHookReceiver(Job):
    """A job started by a change to an object; subclasses implement ``receive_job_hook``.

    ``run()`` hands the change over as Nautobot 1.x does. The run's ``data`` carries
    the change under ``object_change``: any object with ``action`` and
    ``changed_object`` (an ObjectChange record), which is how the job-hook
    pipeline feeds receivers; declaring the ``object_change`` variable belongs to
    that pipeline, so a receiver module imports and registers without it.
    """

    is_job_hook_receiver = True

    def run(self, data: dict[str, Any], commit: bool) -> Any:
        change = data["object_change"]
        return self.receive_job_hook(change=change, action=change.action, changed_object=change.changed_object)

    def receive_job_hook(self, change: Any, action: str, changed_object: Any) -> Any:
        """Override me: react to ``action`` ("create", "update" or "delete") on ``changed_object``.

        ``changed_object`` is None when the object was deleted.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement receive_job_hook()")


class JobButtonReceiver(Job):
    """A job started from a button on one object's page; subclasses implement ``receive_job_button``."""

    is_job_button_receiver = True

    object_pk = StringVar()
    object_model_name = StringVar()

    def run(self, data: dict[str, Any], commit: bool) -> Any:
        from jobruntime.models import model_for_label

        model = model_for_label(data["object_model_name"])
        return self.receive_job_button(model.objects.get(pk=data["object_pk"]))

    def receive_job_button(self, obj: Any) -> Any:
        """Override me: act on the object whose button was pressed."""
        raise NotImplementedError(f"{type(self).__name__} must implement receive_job_button()")


__all__ = [
    "BaseJob",
    "BooleanVar",
    "ChoiceVar",
    "FileVar",
    "IPAddressVar",
    "IPAddressWithMaskVar",
    "IPNetworkVar",
    "IntegerVar",
    "Job",
    "JobButtonReceiver",
    "JobHookReceiver",
    "MultiChoiceVar",
    "MultiObjectVar",
    "ObjectVar",
    "ScriptVariable",
    "StringVar",
    "TextVar",
]
