"""Turn submitted job data (JSON-shaped) into the ``data`` dict ``run()`` receives.

Validation happens before a job starts and reports every problem at once, each
naming its variable. It runs in two passes:

1. a pydantic model built from the job's variables checks keys, types, shapes
   and bounds, and fills in defaults and empty values;
2. the ObjectVar/MultiObjectVar values that passed are looked up in the
   database bound by ``bind_session()``, and their ``query_params`` enforced
   (:mod:`jobruntime.authoring.object_inputs`).

:func:`serialize_value` is the reverse trip, to JSON-safe values (a form's defaults).
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache, singledispatch
from typing import Annotated, Any

import netaddr
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError, ValidationInfo, create_model
from pydantic_core import InitErrorDetails, PydanticCustomError

from jobruntime.authoring.object_inputs import ObjectRef, ObjectRefs, resolve_objects
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
from jobruntime.core.errors import RefusalError
from jobruntime.models import User

__all__ = [
    "InputValidationError",
    "NamedBytesIO",
    "VariableError",
    "serialize_value",
    "validate_data",
]

REQUIRED_MESSAGE = "This field is required."
NULL_REQUIRED_MESSAGE = "{name} is a required field"
UNKNOWN_MESSAGE = "Job data contained an unknown property"
NOT_A_DICT_MESSAGE = "Data should be a dictionary."  # what Nautobot's run path (deserialize_data) says


@dataclass(frozen=True)
class VariableError:
    """One problem with one variable: ``rule`` is a stable name, ``message`` is for people."""

    variable: str
    rule: str
    message: str


class InputValidationError(RefusalError, ValueError):
    """Job data broke one or more rules; ``errors`` lists them all, in form order."""

    def __init__(self, errors: list[VariableError]) -> None:
        self.errors = errors
        super().__init__("\n".join(f"{error.variable}: {error.message}" for error in errors))

    def as_dict(self) -> dict[str, list[str]]:
        """Messages grouped by variable, the shape of a REST ``{"errors": {...}}`` body."""
        grouped: dict[str, list[str]] = {}
        for error in self.errors:
            grouped.setdefault(error.variable, []).append(error.message)
        return grouped


class NamedBytesIO(io.BytesIO):
    """In-memory file content that carries a name, as an uploaded file does."""

    def __init__(self, content: bytes = b"", name: str = "") -> None:
        super().__init__(content)
        self.name = name


# -- pass one: one cleaner per variable type ------------------------------------------------


def _problem(rule: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(rule, message)


def _raise_if_any(value: Any, problems: list[PydanticCustomError], locations: list[int] | None = None) -> None:
    """Raise every problem of one value at once (a length and a regex failure both show)."""
    if problems:
        locs = [(index,) for index in locations] if locations else [()] * len(problems)
        details = [InitErrorDetails(type=problem, loc=loc, input=value) for loc, problem in zip(locs, problems)]
        raise ValidationError.from_exception_data("job data", details)


@singledispatch
def _clean(variable: ScriptVariable, value: Any, name: str) -> Any:
    """A custom variable type without a cleaner passes its value through unchanged."""
    return value


def _clean_text(
    value: Any, min_length: int | None = None, max_length: int | None = None, pattern: re.Pattern[str] | None = None
) -> str:
    if not isinstance(value, str):
        raise _problem("type", "Enter a string.")
    text = value.strip()
    length = len(text)
    problems = []
    if min_length is not None and length < min_length:
        message = f"Ensure this value has at least {min_length} characters (it has {length})."
        problems.append(_problem("min_length", message))
    if max_length is not None and length > max_length:
        message = f"Ensure this value has at most {max_length} characters (it has {length})."
        problems.append(_problem("max_length", message))
    if pattern is not None and not pattern.search(text):
        problems.append(_problem("regex", f"Invalid value. Must match regex: {pattern.pattern}"))
    if "\x00" in text:  # as Django's form fields do: PostgreSQL cannot store it either
        problems.append(_problem("null_characters", "Null characters are not allowed."))
    _raise_if_any(value, problems)
    return text


@_clean.register
def _(variable: StringVar, value: Any, name: str) -> str:
    return _clean_text(value, variable.min_length, variable.max_length, variable.pattern)


@_clean.register
def _(variable: TextVar, value: Any, name: str) -> str:
    return _clean_text(value)


# Bounded so that int() never hits the interpreter's digit limit.
_WHOLE_NUMBER = re.compile(r"[+-]?\d{1,4000}")


@_clean.register
def _(variable: IntegerVar, value: Any, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise _problem("type", "Enter a whole number.")
    problems = []
    if variable.min_value is not None and number < variable.min_value:
        problems.append(_problem("min_value", f"Ensure this value is greater than or equal to {variable.min_value}."))
    if variable.max_value is not None and number > variable.max_value:
        problems.append(_problem("max_value", f"Ensure this value is less than or equal to {variable.max_value}."))
    _raise_if_any(value, problems)
    return number


_BOOLEAN_WORDS = {"true": True, "1": True, "false": False, "0": False}


@_clean.register
def _(variable: BooleanVar, value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _BOOLEAN_WORDS:
        return _BOOLEAN_WORDS[value.strip().lower()]
    raise _problem("type", "Enter true or false.")


def _choice(variable: ChoiceVar, value: Any) -> str:
    if isinstance(value, (str, int, float)) and str(value) in {str(choice) for choice, _, _ in variable.flat_choices}:
        return str(value)
    raise _problem("choice", f"Select a valid choice. {value} is not one of the available choices.")


@_clean.register
def _(variable: ChoiceVar, value: Any, name: str) -> str:
    return _choice(variable, value)


def _require_list(value: Any) -> list[Any] | tuple[Any, ...]:
    if not isinstance(value, (list, tuple)):
        raise _problem("type", "Enter a list of values.")
    return value


@_clean.register
def _(variable: MultiChoiceVar, value: Any, name: str) -> list[str]:
    chosen, problems, locations = [], [], []
    for index, element in enumerate(_require_list(value)):
        try:
            chosen.append(_choice(variable, element))
        except PydanticCustomError as problem:
            problems.append(problem)
            locations.append(index)
    _raise_if_any(value, problems, locations)
    return chosen


def _pk(variable: ObjectVar, value: Any) -> Any:
    """The pk a submitted value names (an instance of the model, a UUID or a string), else None."""
    if isinstance(value, variable.model):
        return value.pk
    if isinstance(value, str):
        return value.strip()
    return value if isinstance(value, uuid.UUID) else None


@_clean.register
def _(variable: ObjectVar, value: Any, name: str) -> ObjectRef | None:
    if variable.null_option and value == "null":
        return None
    if isinstance(value, Mapping) and value and all(isinstance(key, str) for key in value):
        return ObjectRef(lookups=dict(value))
    pk = _pk(variable, value)
    if pk is None:
        raise _problem("type", "Enter a primary key or a dict of lookups such as {\"name\": \"...\"}.")
    return ObjectRef(pk=pk)


@_clean.register
def _(variable: MultiObjectVar, value: Any, name: str) -> ObjectRefs:
    pks = [_pk(variable, element) for element in _require_list(value)]
    if any(pk is None for pk in pks):
        raise _problem("type", "Enter a list of values.")
    return ObjectRefs(pks=pks)


@_clean.register
def _(variable: FileVar, value: Any, name: str) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return NamedBytesIO(bytes(value), name=name)
    if callable(getattr(value, "read", None)):
        return value
    raise _problem("type", "Expected an uploaded file.")


def _format_problem(value: Any) -> PydanticCustomError:
    return _problem("format", f"Invalid IPv4/IPv6 address format: {value}")


@_clean.register
def _(variable: IPAddressVar, value: Any, name: str) -> netaddr.IPAddress:
    if isinstance(value, netaddr.IPAddress):
        return value
    if not isinstance(value, str):
        raise _format_problem(value)
    text = value.strip()
    if "/" in text:
        try:
            netaddr.IPNetwork(text)
        except (netaddr.AddrFormatError, ValueError, TypeError):
            raise _format_problem(value) from None
        raise _problem("mask", "This field requires an IP address without a mask.")
    try:
        return netaddr.IPAddress(text)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise _format_problem(value) from None


def _network(value: Any) -> netaddr.IPNetwork:
    """Parse ``address/mask``, refusing a bare address (netaddr would silently make it a /32)."""
    if isinstance(value, netaddr.IPNetwork):
        return value
    if not isinstance(value, str):
        raise _format_problem(value)
    text = value.strip()
    if text.count("/") != 1:
        raise _problem("mask", "CIDR mask (e.g. /24) is required.")
    try:
        return netaddr.IPNetwork(text)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise _format_problem(value) from None


@_clean.register
def _(variable: IPAddressWithMaskVar, value: Any, name: str) -> netaddr.IPNetwork:
    return _network(value)


@_clean.register
def _(variable: IPNetworkVar, value: Any, name: str) -> netaddr.IPNetwork:
    network = _network(value)
    problems = []
    if network.ip != network.network:
        problems.append(_problem("prefix", f"{value} is not a valid prefix. Did you mean {network.cidr}?"))
    low, high = variable.min_prefix_length, variable.max_prefix_length
    if low is not None and network.prefixlen < low:
        problems.append(_problem("min_prefix_length", f"The prefix length must be greater than or equal to {low}."))
    if high is not None and network.prefixlen > high:
        problems.append(_problem("max_prefix_length", f"The prefix length must be less than or equal to {high}."))
    _raise_if_any(value, problems)
    return network


_EMPTY_FACTORIES: dict[type[ScriptVariable], Callable[[], Any]] = {
    StringVar: str,
    TextVar: str,
    ChoiceVar: str,
    BooleanVar: bool,
    MultiChoiceVar: list,
    MultiObjectVar: list,
}


def _empty_value(variable: ScriptVariable) -> Any:
    """What ``run()`` gets for an optional variable left empty ("" for text, [] for lists...)."""
    for klass in type(variable).__mro__:
        if klass in _EMPTY_FACTORIES:
            return _EMPTY_FACTORIES[klass]()
    return None


def _is_blank(value: Any) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, (list, tuple)) and not value)


def may_be_omitted(variable: ScriptVariable) -> bool:
    """Whether input that leaves ``variable`` out is valid: it is optional, or a non-blank default fills it in."""
    return not variable.required or not _is_blank(variable.default)


def _field_validator(name: str, variable: ScriptVariable) -> Callable[[Any, ValidationInfo], Any]:
    def validate(value: Any, info: ValidationInfo) -> Any:
        if value is None and variable.required:  # an explicit null, refused before the form as Nautobot does
            raise _problem("required", NULL_REQUIRED_MESSAGE.format(name=name))
        cleaned = None if _is_blank(value) else _clean(variable, value, name)
        if _is_blank(cleaned):
            if variable.required:
                raise _problem("required", REQUIRED_MESSAGE)
            cleaned = _empty_value(variable)
        # pydantic returns nothing when any field fails, so each field also
        # records its own result: pass two needs the objects that did pass.
        info.context[name] = cleaned
        return cleaned

    return validate


def _field(name: str, variable: ScriptVariable) -> Any:
    """Defaults are not pydantic defaults: ``validate_data`` puts them in the input, so an
    invalid default is reported under the variable's name like any other value."""
    if variable.required:
        return Field(alias=name)
    return Field(default_factory=lambda: _empty_value(variable), alias=name)


@lru_cache(maxsize=512)
def _input_model(signature: tuple[tuple[str, ScriptVariable], ...]) -> type[BaseModel]:
    """The pydantic model of one job's variables; cached because job classes are long-lived.

    Field names are positional (``v0``...) with the variable name as alias, so
    that a variable may be called ``json`` or ``model_config`` without
    clashing with pydantic's own attributes.
    """
    fields: dict[str, Any] = {
        f"v{position}": (Annotated[Any, PlainValidator(_field_validator(name, variable))], _field(name, variable))
        for position, (name, variable) in enumerate(signature)
    }
    return create_model("JobInput", __config__=ConfigDict(extra="forbid"), **fields)


def _translate(error: Mapping[str, Any]) -> VariableError:
    variable = str(error["loc"][0]) if error["loc"] else "data"
    if error["type"] == "missing":
        return VariableError(variable, "required", REQUIRED_MESSAGE)
    if error["type"] == "extra_forbidden":
        return VariableError(variable, "unknown", UNKNOWN_MESSAGE)
    return VariableError(variable, error["type"], error["msg"])


# -- the pipeline -------------------------------------------------------------------------


def validate_data(
    variables: Mapping[str, ScriptVariable], data: Any, *, requester: User | None = None
) -> dict[str, Any]:
    """Return the data ``run()`` receives: every variable, cleaned, objects loaded.

    Object lookups use the session bound by ``bind_session()``; of the bookkeeping
    models (results, users, jobs...) they find only what ``requester`` may see
    (:mod:`jobruntime.authoring.visibility`), nothing without one. Raises
    :class:`InputValidationError` listing every problem found, in form order.
    """
    if not isinstance(data, Mapping):
        raise InputValidationError([VariableError("data", "type", NOT_A_DICT_MESSAGE)])
    cleaned: dict[str, Any] = {}
    errors: list[VariableError] = []
    try:
        defaults = {name: variable.default for name, variable in variables.items() if variable.default is not None}
        _input_model(tuple(variables.items())).model_validate({**defaults, **data}, context=cleaned)
    except ValidationError as exc:
        errors.extend(_translate(error) for error in exc.errors())
    failed = {error.variable for error in errors}
    for name, variable in variables.items():
        if name not in cleaned and name not in failed:
            cleaned[name] = _empty_value(variable)
    errors.extend(VariableError(*problem) for problem in resolve_objects(variables, cleaned, failed, requester))
    if errors:
        position = {name: index for index, name in enumerate(variables)}
        errors.sort(key=lambda error: position.get(error.variable, len(position)))
        raise InputValidationError(errors)
    return {name: cleaned[name] for name in variables}


def serialize_value(variable: ScriptVariable, value: Any) -> Any:
    """One cleaned value in JSON-safe form: objects as pk strings, IPs as text, files by name."""
    if value is None:
        return None
    if isinstance(variable, MultiObjectVar):
        return [str(getattr(item, "pk", item)) for item in value]
    if isinstance(variable, ObjectVar):
        return str(getattr(value, "pk", value))
    if isinstance(variable, FileVar):
        return getattr(value, "name", None)
    if isinstance(value, (netaddr.IPAddress, netaddr.IPNetwork)):
        return str(value)
    return value

