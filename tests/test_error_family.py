"""Every exception class jobruntime defines belongs to the ``JobRuntimeError`` family."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import jobruntime
import jobruntime_handlers
from jobruntime.core.errors import (
    BrokerError,
    JobRuntimeError,
    RefusalError,
    RunInterrupted,
    SetupError,
    StorageError,
)

SUBTREES = (RefusalError, SetupError, BrokerError, StorageError, RunInterrupted)


def _defined_exceptions() -> list[type[BaseException]]:
    """Exception classes defined (not merely imported) in any module of the two installed packages."""
    found: dict[str, type[BaseException]] = {}
    for package in (jobruntime, jobruntime_handlers):
        modules = [package] + [
            importlib.import_module(info.name)
            for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}.")
        ]
        for module in modules:
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if issubclass(cls, BaseException) and cls.__module__ == module.__name__:
                    found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return [found[name] for name in sorted(found)]


def test_the_walk_finds_errors_in_every_layer():
    modules = {cls.__module__.split(".")[1] for cls in _defined_exceptions() if cls.__module__.count(".")}
    assert {"core", "bus", "run", "authoring", "models", "scheduling", "changes", "cli"} <= modules


def test_every_exception_class_descends_from_job_runtime_error():
    outside = [f"{cls.__module__}.{cls.__qualname__}" for cls in _defined_exceptions()
               if not issubclass(cls, JobRuntimeError)]
    assert outside == []


@pytest.mark.parametrize("error", [
    "jobruntime.scheduling.recurrence.InvalidSchedule",
    "jobruntime.scheduling.approvals.ApprovalRefused",
    "jobruntime.scheduling.approvals.NotAwaitingApproval",
    "jobruntime.scheduling.schedules.ScheduleNotFound",
    "jobruntime.changes.inventory.InventoryError",
    "jobruntime.changes.hooks.InvalidJobHook",
    "jobruntime.authoring.visibility.NotSelectable",
    "jobruntime.authoring.compat.check.UncheckableFile",
    "jobruntime.cli.common.CommandError",
])
def test_a_refusal_of_user_input_is_a_refusal_error(error):
    module, name = error.rsplit(".", 1)
    assert issubclass(getattr(importlib.import_module(module), name), RefusalError)


def test_errors_keep_the_builtin_bases_callers_catch():
    from jobruntime.authoring.compat.django_settings import SettingsNotBound
    from jobruntime.authoring.visibility import NotSelectable
    from jobruntime.scheduling.approvals import ApprovalRefused
    from jobruntime.scheduling.recurrence import InvalidSchedule
    from jobruntime.store.prebuilt import ConnectionLost

    assert issubclass(InvalidSchedule, ValueError)
    assert issubclass(ApprovalRefused, PermissionError)
    assert issubclass(NotSelectable, LookupError)
    assert issubclass(SettingsNotBound, SetupError) and issubclass(SettingsNotBound, RuntimeError)
    assert issubclass(ConnectionLost, RuntimeError)


def test_direct_children_of_the_root_are_only_the_subtrees_and_named_exceptions():
    """A new error picks a subtree; the few that fit none are listed here on purpose."""
    direct = {f"{cls.__module__}.{cls.__qualname__}" for cls in _defined_exceptions()
              if JobRuntimeError in cls.__bases__ and cls not in SUBTREES}
    assert direct <= {
        "jobruntime.client.FollowTimeout",
        "jobruntime.models.errors.ValidationError",
        "jobruntime.models.errors.FieldError",
        "jobruntime.models.errors.ObjectDoesNotExist",
        "jobruntime.models.errors.MultipleObjectsReturned",
        "jobruntime.models.errors.NoSessionBound",
        "jobruntime.run.claim.ImpossibleTransition",
        "jobruntime.store.prebuilt.ConnectionLost",
        "jobruntime.web.errors.ApiError",
        "jobruntime.web.ui.session.SignInRequired",
        "jobruntime.web.ui.session.CsrfRefused",
    }
