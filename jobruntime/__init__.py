"""jobruntime: Nautobot-style Jobs, run by stateless workers on a message bus.

Job authors import everything they need from here::

    from jobruntime import Job, StringVar, IntegerVar, ObjectVar

Names are loaded on first use so that the command line starts fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Job": "jobruntime.authoring.job",
    "JobHookReceiver": "jobruntime.authoring.receiver",
    "JobRequest": "jobruntime.authoring.job",
    "SoftTimeLimitExceeded": "jobruntime.authoring.job",
    **{
        name: "jobruntime.authoring.variables"
        for name in (
            "ScriptVariable", "StringVar", "TextVar", "IntegerVar", "BooleanVar", "ChoiceVar",
            "MultiChoiceVar", "ObjectVar", "MultiObjectVar", "FileVar", "IPAddressVar",
            "IPAddressWithMaskVar", "IPNetworkVar",
        )
    },
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'jobruntime' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
