"""Describe a job's input form as JSON Schema (draft 2020-12), for any UI or client.

Standard keywords carry what JSON Schema can express (types, bounds, choices,
required fields); the ``x-`` keywords carry what a form renderer needs beyond
that: the variable class, the model an object picker queries, and the kind of
IP value. The output is deterministic so it can be cached and compared.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import singledispatch
from typing import Any

from jobruntime.authoring.inputs import may_be_omitted, serialize_value
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

__all__ = ["SCHEMA_DIALECT", "form_schema"]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def form_schema(title: str, description: str, variables: Mapping[str, ScriptVariable]) -> dict[str, Any]:
    """Return the JSON Schema of a job's input, properties in form order.

    A variable is listed in ``required`` only when leaving it out is an error,
    that is when it is required and its default is blank, so the schema accepts
    exactly the omissions that validation accepts.
    """
    return {
        "$schema": SCHEMA_DIALECT,
        "title": title,
        "description": description,
        "type": "object",
        "properties": {name: _property(name, variable) for name, variable in variables.items()},
        "required": [name for name, variable in variables.items() if not may_be_omitted(variable)],
        "additionalProperties": False,
        "x-order": list(variables),
    }


def _humanise(name: str) -> str:
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _property(name: str, variable: ScriptVariable) -> dict[str, Any]:
    schema: dict[str, Any] = {"title": variable.label or _humanise(name)}
    if variable.description:
        schema["description"] = variable.description
    schema.update(_type_schema(variable))
    default = _default(variable)
    if default is not None:
        schema["default"] = default
    schema["x-variable"] = type(variable).__name__
    if variable.widget is not None:
        widget = variable.widget
        schema["x-widget"] = widget if isinstance(widget, str) else getattr(widget, "__name__", type(widget).__name__)
    return schema


def _default(variable: ScriptVariable) -> Any:
    """The default as JSON: choices as the strings they compare as, objects as pk strings."""
    if isinstance(variable, BooleanVar):
        return bool(variable.default)
    if variable.default is None or isinstance(variable, FileVar):
        return None
    if isinstance(variable, MultiChoiceVar):
        return [str(value) for value in variable.default]
    if isinstance(variable, ChoiceVar):
        return str(variable.default)
    return serialize_value(variable, variable.default)


def _some(**keywords: Any) -> dict[str, Any]:
    """The keywords whose value is set (``0`` counts as set)."""
    return {key: value for key, value in keywords.items() if value is not None}


@singledispatch
def _type_schema(variable: ScriptVariable) -> dict[str, Any]:
    """A custom variable type accepts any JSON value."""
    return {}


@_type_schema.register
def _(variable: StringVar) -> dict[str, Any]:
    return {
        "type": "string",
        **_some(minLength=variable.min_length, maxLength=variable.max_length, pattern=variable.regex),
    }


@_type_schema.register
def _(variable: TextVar) -> dict[str, Any]:
    return {"type": "string"}


@_type_schema.register
def _(variable: IntegerVar) -> dict[str, Any]:
    return {"type": "integer", **_some(minimum=variable.min_value, maximum=variable.max_value)}


@_type_schema.register
def _(variable: BooleanVar) -> dict[str, Any]:
    return {"type": "boolean"}


def _choices(variable: ChoiceVar) -> dict[str, Any]:
    options = [
        {"const": str(value), "title": str(label), **({"x-group": str(group)} if group is not None else {})}
        for value, label, group in variable.flat_choices
    ]
    return {"type": "string", "oneOf": options}


@_type_schema.register
def _(variable: ChoiceVar) -> dict[str, Any]:
    return _choices(variable)


@_type_schema.register
def _(variable: MultiChoiceVar) -> dict[str, Any]:
    return {"type": "array", "items": _choices(variable)}


def _object_extras(variable: ObjectVar) -> dict[str, Any]:
    model = variable.model
    extras: dict[str, Any] = {
        "x-model": getattr(model, "_meta_label", "") or model.__name__.lower(),
        "x-display-field": variable.display_field,
    }
    if variable.query_params:
        extras["x-query-params"] = json.loads(json.dumps(variable.query_params, default=str))
    if variable.null_option is not None:
        extras["x-null-option"] = variable.null_option
    return extras


@_type_schema.register
def _(variable: ObjectVar) -> dict[str, Any]:
    """A pk, or an object of lookups (``{"name": "HQ"}``); ``format`` constrains only the string."""
    return {"type": ["string", "object"], "format": "uuid", **_object_extras(variable)}


@_type_schema.register
def _(variable: MultiObjectVar) -> dict[str, Any]:
    """A list of pks; one given twice is one object."""
    return {"type": "array", "items": {"type": "string", "format": "uuid"}, **_object_extras(variable)}


@_type_schema.register
def _(variable: FileVar) -> dict[str, Any]:
    return {"type": "string", "contentEncoding": "binary"}


@_type_schema.register
def _(variable: IPAddressVar) -> dict[str, Any]:
    return {"type": "string", "x-format": "ip-address"}


@_type_schema.register
def _(variable: IPAddressWithMaskVar) -> dict[str, Any]:
    return {"type": "string", "x-format": "ip-interface"}


@_type_schema.register
def _(variable: IPNetworkVar) -> dict[str, Any]:
    bounds = {"x-min-prefix-length": variable.min_prefix_length, "x-max-prefix-length": variable.max_prefix_length}
    return {"type": "string", "x-format": "ip-network", **_some(**bounds)}
