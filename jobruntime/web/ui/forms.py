"""A job's run form, generated from its JSON Schema (``Job.form_schema()``), and the form read back as a run body.

Each input is named after its variable, so what a person submits is what a
script would send as ``data``; validation is the run endpoint's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData, UploadFile

from jobruntime.authoring.object_inputs import offered_filters
from jobruntime.authoring.variables import ScriptVariable
from jobruntime.models import model_for_label
from jobruntime.web.errors import ApiError

PICKER_LIMIT = 50  # objects a picker offers at once; typing narrows the list
SEARCHED_COLUMNS = ("name", "model", "address", "prefix", "slug", "username", "vid")
IP_HINTS = {"ip-address": "192.0.2.1", "ip-interface": "192.0.2.1/24", "ip-network": "192.0.2.0/24"}
COMMIT_FIELD, QUEUE_FIELD = "_commit", "_task_queue"
SCHEDULE_PREFIX = "_schedule_"
INTERVAL_LABELS = {  # Nautobot's JobExecutionType labels
    "immediately": "Once immediately", "future": "Once in the future", "hourly": "Recurring hourly",
    "daily": "Recurring daily", "weekly": "Recurring weekly", "custom": "Recurring custom",
}


@dataclass
class Field:
    """One input of the run form, as the template draws it."""

    name: str
    label: str
    widget: str  # text, textarea, number, checkbox, select, picker, file, datetime
    required: bool = False
    help: str = ""
    multiple: bool = False
    value: Any = None
    choices: list[tuple[str, str]] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)
    refers_to: list[str] = field(default_factory=list)  # fields whose values narrow an object picker
    errors: list[str] = field(default_factory=list)

    def selected(self, value: str) -> bool:
        chosen = self.value if isinstance(self.value, list) else [self.value]
        return value in [str(item) for item in chosen if item is not None]


def build_fields(schema: dict[str, Any]) -> list[Field]:
    """The run form's inputs in the job's variable order, with the schema's defaults filled in."""
    required = set(schema.get("required", ()))
    return [_field(name, schema["properties"][name], name in required) for name in schema.get("x-order", ())]


def _field(name: str, prop: dict[str, Any], required: bool) -> Field:
    base = Field(name=name, label=prop.get("title", name), widget="text", required=required,
                 help=prop.get("description", ""), value=prop.get("default"))
    kind, items = prop.get("type"), prop.get("items", {})
    if "x-model" in prop:
        base.widget, base.multiple = "picker", kind == "array"
        base.refers_to = [value[1:] for value in prop.get("x-query-params", {}).values()
                          if isinstance(value, str) and value.startswith("$")]
        if "x-null-option" in prop:
            base.choices.append(("null", prop["x-null-option"]))
    elif "oneOf" in prop or "oneOf" in items:
        base.widget, base.multiple = "select", kind == "array"
        base.choices = [(option["const"], option["title"]) for option in prop.get("oneOf") or items["oneOf"]]
    elif kind == "boolean":
        base.widget = "checkbox"
    elif kind == "integer":
        base.widget = "number"
        base.attrs = {"min": prop.get("minimum"), "max": prop.get("maximum")}
    elif prop.get("contentEncoding") == "binary":
        base.widget = "file"
    elif prop.get("x-variable") == "TextVar":
        base.widget = "textarea"
    else:
        base.attrs = {"maxlength": prop.get("maxLength"), "minlength": prop.get("minLength"),
                      "pattern": prop.get("pattern"), "placeholder": IP_HINTS.get(prop.get("x-format", ""))}
    base.attrs = {key: value for key, value in base.attrs.items() if value is not None}
    return base


def offered_objects(variable: ScriptVariable, variables: dict[str, ScriptVariable], values: dict[str, Any],
                    search: str = "") -> list[tuple[str, str]]:
    """``(pk, label)`` of the objects a picker offers: ``query_params`` applied, narrowed by ``search``.

    Needs ``Model.objects`` bound to a session (``Gateway.session()``).
    """
    model = variable.model
    if isinstance(model, str):
        model = model_for_label(model)
    queryset = model.objects.filter(**offered_filters(variable, variables, values))
    column = next((name for name in SEARCHED_COLUMNS if hasattr(model, name)), None)
    if search and column:
        queryset = queryset.filter(**{f"{column}__icontains": search})
    if column:
        queryset = queryset.order_by(column)
    return [(str(obj.pk), str(getattr(obj, variable.display_field, obj))) for obj in queryset[:PICKER_LIMIT]]


def read_form(fields: list[Field], form: FormData) -> tuple[dict[str, Any], dict[str, UploadFile]]:
    """The submitted data keyed by variable (blank inputs left out, so defaults apply), and the files chosen.

    Values stay text, as a multipart request sends them; the run endpoint's
    validation turns them into numbers, choices and objects.
    """
    data: dict[str, Any] = {}
    files: dict[str, UploadFile] = {}
    for spec in fields:
        if spec.widget == "checkbox":
            data[spec.name] = spec.name in form
        elif spec.multiple:
            values = [value for value in form.getlist(spec.name) if isinstance(value, str) and value]
            if values:
                data[spec.name] = values
        elif spec.widget == "file":
            upload = form.get(spec.name)
            if isinstance(upload, UploadFile) and upload.filename:
                files[spec.name] = upload
        else:
            value = form.get(spec.name)
            if isinstance(value, str) and value.strip():
                data[spec.name] = value
    return data, files


def schedule_fields(time_zone: str) -> list[Field]:
    """When to run, as the multipart API names it (``_schedule_*``), so the endpoint's messages land by field."""
    return [
        Field(name=f"{SCHEDULE_PREFIX}interval", label="When", widget="select", required=True, value="immediately",
              choices=list(INTERVAL_LABELS.items())),
        Field(name=f"{SCHEDULE_PREFIX}name", label="Schedule name", widget="text", attrs={"maxlength": 200},
              help="Needed for every choice but once immediately."),
        Field(name=f"{SCHEDULE_PREFIX}start_time", label="Starting at", widget="datetime",
              help=f"Read as {time_zone} time. A custom schedule may leave it blank (it starts now)."),
        Field(name=f"{SCHEDULE_PREFIX}crontab", label="Crontab", widget="text",
              attrs={"placeholder": "*/15 9,17 3 * 1-5"},
              help="Recurring custom only: minute hour day-of-month month day-of-week."),
    ]


def read_schedule(form: FormData) -> tuple[dict[str, str] | None, dict[str, str]]:
    """The ``schedule`` of a run body (None: run at once) and the raw values to show again after a refusal."""
    raw = {key: str(form.get(key) or "") for key in form.keys() if key.startswith(SCHEDULE_PREFIX)}
    schedule = {key[len(SCHEDULE_PREFIX):]: value.strip() for key, value in raw.items() if value.strip()}
    if schedule.get("interval", "immediately") == "immediately":
        return None, raw
    return schedule, raw


def refill(fields: list[Field], data: dict[str, Any]) -> None:
    """Show what was submitted again after a refusal, so nothing has to be typed twice."""
    for spec in fields:
        if spec.widget != "file":
            spec.value = data.get(spec.name, False if spec.widget == "checkbox" else None)


def place_errors(fields: list[Field], refusal: ApiError) -> list[str]:
    """Put a refusal's field errors next to their fields; what belongs to no field is returned for the page top."""
    by_name = {spec.name: spec for spec in fields}
    body = refusal.body
    if isinstance(body, dict) and isinstance(body.get("errors"), dict):
        body = body["errors"]
    if not isinstance(body, dict) or "detail" in body:
        return [body["detail"]] if isinstance(body, dict) else [str(message) for message in body]
    general = []
    if isinstance(body.get("schedule"), dict):  # a JSON body's schedule errors belong to the _schedule_* fields
        body = {**{f"{SCHEDULE_PREFIX}{key}": value for key, value in body["schedule"].items()},
                **{key: value for key, value in body.items() if key != "schedule"}}
    for name, messages in body.items():
        messages = messages if isinstance(messages, list) else [str(messages)]
        target = by_name.get(name) or by_name.get(f"_{name}")
        if target is None:
            general.extend(f"{name}: {message}" for message in messages)
        else:
            target.errors.extend(str(message) for message in messages)
    return general
