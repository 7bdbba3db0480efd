"""What ``nautobot.extras.jobs`` provides: the Job class, every variable, and the receiver bases."""

from __future__ import annotations

from typing import Any

from jobruntime.authoring.job import Job
from jobruntime.authoring.receiver import JobHookReceiver
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
