"""Inventory and job bookkeeping models with a Nautobot-1.x-style API.

Import models from here. The bookkeeping models (jobs, results, users) are
declared on import; the inventory models (``jobruntime.models.inventory``) on
first use of any of them, so a process that never touches inventory never pays
for declaring it. Code that needs every table in ``Base.metadata`` (migrations,
schema comparisons) calls :func:`declare_all` first.
"""

from importlib import import_module
from typing import Any

from jobruntime.models.base import INVENTORY_MODULE, INVENTORY_NAMES, Base, model_for_label
from jobruntime.models.changes import JobHook, ObjectChange
from jobruntime.models.contenttypes import ContentType
from jobruntime.models.errors import (
    FieldError,
    MultipleObjectsReturned,
    NoSessionBound,
    ObjectDoesNotExist,
    ProtectedError,
    ValidationError,
)
from jobruntime.models.extras import JOB_OVERRIDABLE_FIELDS, Job, JobLogEntry, JobResult, OutboxEvent
from jobruntime.models.git import GitRepository
from jobruntime.models.query import QuerySet
from jobruntime.models.scheduling import ScheduledJob
from jobruntime.models.session import bind_session, current_session
from jobruntime.models.users import ObjectPermission, Token, User


def declare_all() -> type[Base]:
    """Declare every model, inventory included; returns ``Base``, whose metadata then has every table."""
    import_module(INVENTORY_MODULE)
    return Base


def __getattr__(name: str) -> Any:
    """Inventory models on first use (PEP 562): ``from jobruntime.models import Site`` declares them all."""
    if name.startswith("_"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name not in INVENTORY_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(INVENTORY_MODULE), name)


__all__ = [
    "JOB_OVERRIDABLE_FIELDS",
    "Base",
    "ContentType",
    "FieldError",
    "GitRepository",
    "Job",
    "JobHook",
    "JobLogEntry",
    "JobResult",
    "MultipleObjectsReturned",
    "NoSessionBound",
    "ObjectChange",
    "ObjectPermission",
    "ObjectDoesNotExist",
    "OutboxEvent",
    "ProtectedError",
    "QuerySet",
    "ScheduledJob",
    "Token",
    "User",
    "ValidationError",
    "bind_session",
    "current_session",
    "declare_all",
    "model_for_label",
    *INVENTORY_NAMES,
]
