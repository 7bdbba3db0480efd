"""The Job base class that job authors subclass, its Meta resolution and logging API.

A Job never touches storage for its logs itself: the execution engine attaches a
:class:`~jobruntime.run.log.RunLog` before calling ``run()``, and every ``log_*``
call is handed to it. This keeps job code free of transport and transaction concerns.
"""

from __future__ import annotations

import inspect
import json
import logging
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from jobruntime.authoring.variables import ScriptVariable, ordered_variables
from jobruntime.core.errors import RunInterrupted

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from jobruntime.models import JobResult, User
    from jobruntime.run.log import RunLog

LOG_LEVELS = ("default", "success", "info", "warning", "failure")


class SoftTimeLimitExceeded(RunInterrupted):
    """Raised inside a running job when its soft time limit passes; a job may catch it to clean up."""


@dataclass(frozen=True)
class JobRequest:
    """Who asked for a run and from where, as ``self.request`` inside a job."""

    user: User | None = None
    id: str | None = None
    client_address: str | None = None
    server_name: str = "jobruntime"

    @property
    def META(self) -> dict[str, str]:  # noqa: N802 - the reference's name
        meta = {"SERVER_NAME": self.server_name}
        if self.client_address:
            meta["REMOTE_ADDR"] = self.client_address
        return meta


@dataclass(frozen=True)
class JobMeta:
    """The effective Meta of a Job class: Meta attributes, class-level overrides, defaults."""

    name: str
    description: str
    approval_required: bool
    commit_default: bool
    field_order: tuple[str, ...] | None
    has_sensitive_variables: bool
    hidden: bool
    read_only: bool
    soft_time_limit: float
    time_limit: float
    task_queues: tuple[str, ...]
    template_name: str | None

    @property
    def summary(self) -> str:
        """First line of the description, as lists show it."""
        return self.description.splitlines()[0] if self.description else ""


_META_DEFAULTS: dict[str, Any] = {
    "description": "",
    "approval_required": False,
    "commit_default": True,
    "field_order": None,
    "has_sensitive_variables": True,
    "hidden": False,
    "read_only": False,
    "soft_time_limit": 0,
    "time_limit": 0,
    "task_queues": (),
    "template_name": None,
}


def _class_level(cls: type, attribute: str) -> Any:
    """A plain class attribute named like a Meta field shadows Meta, as in the reference."""
    for klass in cls.__mro__:
        if klass is Job or klass is object:
            break
        value = klass.__dict__.get(attribute, _MISSING)
        if value is not _MISSING and not isinstance(value, ScriptVariable) and not callable(value):
            return value
    return _MISSING


_MISSING = object()


def resolve_meta(cls: type[Job]) -> JobMeta:
    """Read a Job class's effective Meta once; Meta classes are inherited like attributes."""
    meta = getattr(cls, "Meta", None)
    values: dict[str, Any] = {}
    for field_name in ("name", *_META_DEFAULTS):
        value = _class_level(cls, field_name)
        if value is _MISSING:
            value = getattr(meta, field_name, _MISSING)
        if value is _MISSING:
            value = cls.__name__ if field_name == "name" else _META_DEFAULTS[field_name]
        values[field_name] = value
    values["description"] = textwrap.dedent(values["description"] or "").strip()
    values["field_order"] = tuple(values["field_order"]) if values["field_order"] else None
    values["task_queues"] = tuple(values["task_queues"] or ())
    values["soft_time_limit"] = float(values["soft_time_limit"] or 0)
    values["time_limit"] = float(values["time_limit"] or 0)
    return JobMeta(**values)


class _MetaValue:
    """One effective Meta field, read as ``self.name`` or ``MyJob.read_only`` as Nautobot's class properties are."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.field = name

    def __get__(self, instance: object, owner: type[Job]) -> Any:
        return getattr(owner.meta(), self.field)


class Job:
    """Base class for jobs: declare variables as class attributes, implement ``run()``.

    ``run(data, commit)`` runs first, then every ``test_*`` method in declaration
    order (inherited ones after the class's own), all in one transaction; then
    ``post_run()``, always, once the transaction is resolved.
    """

    source: ClassVar[str] = "local"
    module_name: ClassVar[str]
    grouping: ClassVar[str]
    # Set by JobHookReceiver (jobruntime.authoring.receiver); sync copies it to the Job record.
    is_job_hook_receiver: ClassVar[bool] = False

    # A subclass's own attribute of the same name (a variable, or a plain value that overrides Meta) wins.
    name = _MetaValue()
    description = _MetaValue()
    commit_default = _MetaValue()
    read_only = _MetaValue()
    hidden = _MetaValue()
    approval_required = _MetaValue()
    has_sensitive_variables = _MetaValue()
    soft_time_limit = _MetaValue()
    time_limit = _MetaValue()
    task_queues = _MetaValue()

    def __init__(self) -> None:
        self.request: JobRequest | None = None
        self.job_result: JobResult | None = None
        self.results: dict[str, Any] = {"output": ""}
        self.failed = False
        self.active_test = "main"
        self.session: Session | None = None
        self.logger = logging.getLogger(f"jobruntime.jobs.{type(self).__name__}")
        self._run_log: RunLog | None = None
        self._create_file: Callable[[str, bytes], Any] | None = None  # set by the runner: where output files go
        self.test_methods = [getattr(self, name) for name in declared_test_methods(type(self))]

    # --- class information -------------------------------------------------

    @classmethod
    def meta(cls) -> JobMeta:
        """The effective Meta; cached per class, since classes do not change after import."""
        cached = cls.__dict__.get("_resolved_meta")
        if cached is None:
            cached = resolve_meta(cls)
            cls._resolved_meta = cached
        return cached

    @classmethod
    def class_path(cls) -> str:
        """``<source>/<module>/<Class>``, the name runs and Job records use."""
        module_name = cls.__dict__.get("module_name") or cls.__module__.rsplit(".", 1)[-1]
        return f"{cls.source}/{module_name}/{cls.__name__}"

    @classmethod
    def job_grouping(cls) -> str:
        """Module-level ``name`` if the module sets one, else the module name."""
        grouping = cls.__dict__.get("grouping")
        if grouping:
            return grouping
        module = inspect.getmodule(cls)
        module_level = getattr(module, "name", None)
        if isinstance(module_level, str) and module_level:
            return module_level
        return cls.class_path().split("/")[1]

    @classmethod
    def variables(cls) -> dict[str, ScriptVariable]:
        """Input variables in form order (parents first, then ``Meta.field_order``)."""
        return ordered_variables(cls, cls.meta().field_order)

    @classmethod
    def form_schema(cls) -> dict[str, Any]:
        """JSON Schema of the input form, for UIs and ``jobruntime jobs schema``."""
        from jobruntime.authoring.form_schema import form_schema

        meta = cls.meta()
        return form_schema(meta.name, meta.description, cls.variables())

    @classmethod
    def validate_data(cls, data: Any) -> dict[str, Any]:
        """Nautobot's ``Job.validate_data``: the cleaned data, or a ValidationError with Nautobot's messages.

        Objects are looked up in the session bound by ``bind_session()``.
        """
        from jobruntime.authoring.compat.job_data import validate_data

        return validate_data(cls.variables(), data)

    @classmethod
    def deserialize_data(cls, data: Any) -> dict[str, Any]:
        """Nautobot's ``Job.deserialize_data``: stored data back to objects, without the form's checks."""
        from jobruntime.authoring.compat.job_data import deserialize_data

        return deserialize_data(cls.variables(), data)

    @staticmethod
    def serialize_data(data: dict[str, Any]) -> dict[str, Any]:
        """Nautobot's ``Job.serialize_data``: cleaned data made storable (objects as pks, IPs as text)."""
        from jobruntime.authoring.compat.job_data import serialize_data

        return serialize_data(data)

    @property
    def file_path(self) -> str:
        return inspect.getfile(type(self))

    @property
    def result(self) -> dict[str, Any]:
        """Alias of ``results``; the documentation used both names."""
        return self.results

    # --- the methods authors override --------------------------------------

    def run(self, data: dict[str, Any], commit: bool) -> Any:
        """Override me. The return value is appended to the job's output."""
        return None

    def post_run(self) -> Any:
        """Override me. Runs after the run's transaction is resolved, even after an exception."""
        return None

    # --- logging -----------------------------------------------------------

    def log(self, message: Any) -> None:
        self._log("default", None, message)

    def log_debug(self, message: Any) -> None:
        self._log("default", None, message)

    def log_success(self, obj: Any = None, message: Any = None) -> None:
        self._log_with_object("success", obj, message)

    def log_info(self, obj: Any = None, message: Any = None) -> None:
        self._log_with_object("info", obj, message)

    def log_warning(self, obj: Any = None, message: Any = None) -> None:
        self._log_with_object("warning", obj, message)

    def log_failure(self, obj: Any = None, message: Any = None) -> None:
        """Log a failure and mark the job failed; the job keeps running."""
        self.failed = True
        self._log_with_object("failure", obj, message)

    def _log_with_object(self, level: str, obj: Any, message: Any) -> None:
        if isinstance(obj, str) and message is None:
            obj, message = None, obj
        self._log(level, obj, message)

    def _log(self, level: str, obj: Any, message: Any) -> None:
        if self._run_log is not None:
            self._run_log.add(level, self.active_test, str(message), obj)
        else:
            self.logger.info("%s: %s", level, message)

    # --- helpers for job code ---------------------------------------------

    def create_file(self, filename: str, content: str | bytes) -> None:
        """Keep ``content`` (text is stored as UTF-8) as an output file of this run, as Nautobot 2.x jobs do.

        It is stored at once, kept even when the run is a dry run or fails, and listed on the JobResult.
        """
        if isinstance(content, str):
            content = content.encode()
        if not isinstance(content, (bytes, bytearray)):
            raise TypeError(f"create_file() takes str or bytes content, not {type(content).__name__}")
        if self._create_file is None:
            raise RuntimeError("create_file() works only while the job runs")
        self._create_file(filename, bytes(content))

    def load_yaml(self, filename: str) -> Any:
        """Parse a YAML file that sits next to the job's source file."""
        import yaml  # here, not at the top: most jobs never read YAML, and it costs start-up time

        with open(Path(self.file_path).parent / filename, encoding="utf-8") as handle:
            return yaml.safe_load(handle)

    def load_json(self, filename: str) -> Any:
        """Parse a JSON file that sits next to the job's source file."""
        with open(Path(self.file_path).parent / filename, encoding="utf-8") as handle:
            return json.load(handle)


def declared_test_methods(cls: type) -> list[str]:
    """``test_*`` methods in declaration order; inherited ones follow, in MRO order."""
    names: list[str] = []
    for klass in cls.__mro__:
        for name, value in klass.__dict__.items():
            if name.startswith("test_") and callable(value) and name not in names:
                names.append(name)
    return names
