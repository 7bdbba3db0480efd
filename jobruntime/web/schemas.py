"""The request bodies the gateway accepts, as pydantic models: they parse requests and describe them in OpenAPI."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jobruntime.web.errors import ApiError

Body = TypeVar("Body", bound=BaseModel)
INTERVALS = ("immediately", "future", "hourly", "daily", "weekly", "custom")


class ScheduleBody(BaseModel):
    """When to run: Nautobot's ``schedule`` object (JOBS-REFERENCE §4.2)."""

    model_config = ConfigDict(extra="ignore")

    interval: Literal["immediately", "future", "hourly", "daily", "weekly", "custom"]
    name: str | None = None
    start_time: str | None = None
    crontab: str | None = None


class JobRunBody(BaseModel):
    """``POST /api/extras/jobs/<id>/run/`` as JSON; unknown keys are ignored, as Nautobot ignores them."""

    model_config = ConfigDict(extra="ignore")

    data: dict[str, Any] | None = Field(default=None, description="Variables by name, as Nautobot's REST API takes them")
    commit: bool | None = Field(default=None, description="null: the job's commit_default")
    task_queue: str | None = Field(default=None, description="One of the job's task_queues; blank: its first")
    schedule: ScheduleBody | None = None


class JobPatchBody(BaseModel):
    """``PATCH /api/extras/jobs/<id>/``: ``enabled`` and the overridable fields; ``<field>_override: false``
    restores the code's value."""

    model_config = ConfigDict(extra="allow")

    enabled: bool | None = None
    grouping: str | None = None
    name: str | None = None
    description: str | None = None
    commit_default: bool | None = None
    hidden: bool | None = None
    read_only: bool | None = None
    approval_required: bool | None = None
    soft_time_limit: float | None = None
    time_limit: float | None = None
    has_sensitive_variables: bool | None = None
    task_queues: list[str] | None = None


class JobHookBody(BaseModel):
    """``POST``/``PATCH /api/extras/job-hooks/``: Nautobot's JobHook fields; ``job`` is the receiver's UUID."""

    model_config = ConfigDict(extra="ignore")

    name: str | None = None
    content_types: list[str] | None = Field(default=None, description='Change-logged models, e.g. ["dcim.device"]')
    job: str | None = Field(default=None, description="The receiver job's UUID")
    enabled: bool | None = None
    type_create: bool | None = None
    type_update: bool | None = None
    type_delete: bool | None = None


_MESSAGES = {
    "bool_type": "Must be a valid boolean.", "bool_parsing": "Must be a valid boolean.",
    "string_type": "Not a valid string.", "dict_type": "Expected a dictionary of items.",
    "model_type": "Invalid data. Expected a dictionary.", "missing": "This field is required.",
    "literal_error": "is not a valid choice.",
}


def parse_run_body(body: Any) -> JobRunBody:
    """The JSON body as a JobRunBody; a 400 shaped like Django REST framework's field errors otherwise."""
    return parse_body(JobRunBody, body)


def parse_body(model: type[Body], body: Any) -> Body:
    """``body`` as ``model``; a 400 shaped like Django REST framework's field errors otherwise."""
    if not isinstance(body, dict):
        raise ApiError(400, {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {type(body).__name__}."]})
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors: dict[str, Any] = {}
        for error in exc.errors():
            message = _MESSAGES.get(error["type"], error["msg"])
            if error["type"] == "literal_error":
                message = f'"{error["input"]}" {message}'
            location = [str(part) for part in error["loc"]]
            target = errors
            for part in location[:-1]:
                target = target.setdefault(part, {})
            target.setdefault(location[-1], []).append(message)
        raise ApiError(400, errors) from None
