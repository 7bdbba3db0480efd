"""The JSON Schema of a job's input form."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import netaddr
import pytest

from jobruntime.authoring.discovery import discover
from jobruntime.authoring.form_schema import form_schema
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
    ordered_variables,
)
from jobruntime.models import DeviceRole, DeviceType, Manufacturer

COLORS = (("ff0000", "Red"), ("00ff00", "Green"))


class TextareaWidget:
    """Stands in for a widget class a job author names."""


class EveryVariableJob:
    hostname = StringVar(label="Host name", description="Short name", min_length=0, max_length=63, regex="^[a-z]")
    notes = TextVar(required=False, widget=TextareaWidget)
    count = IntegerVar(min_value=0, max_value=10, default=0)
    dry_run = BooleanVar()
    color = ChoiceVar(choices=COLORS, default="ff0000")
    colors = MultiChoiceVar(choices=((1, "One"), (2, "Two")), required=False, default=[1])
    manufacturer = ObjectVar(model=Manufacturer, required=False)
    device_type = ObjectVar(
        model=DeviceType, display_field="model", query_params={"manufacturer_id": "$manufacturer"}, null_option="Any"
    )
    roles = MultiObjectVar(model=DeviceRole, required=False)
    config = FileVar()
    gateway = IPAddressVar(default=netaddr.IPAddress("192.0.2.1"))
    interface = IPAddressWithMaskVar()
    prefix = IPNetworkVar(min_prefix_length=8, max_prefix_length=30, required=False)


def schema() -> dict:
    return form_schema("Every variable", "All of them", ordered_variables(EveryVariableJob))


def test_schema_of_a_job_with_every_variable_type() -> None:
    assert schema() == {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Every variable",
        "description": "All of them",
        "type": "object",
        "properties": {
            "hostname": {
                "title": "Host name",
                "description": "Short name",
                "type": "string",
                "minLength": 0,
                "maxLength": 63,
                "pattern": "^[a-z]",
                "x-variable": "StringVar",
            },
            "notes": {"title": "Notes", "type": "string", "x-variable": "TextVar", "x-widget": "TextareaWidget"},
            "count": {
                "title": "Count",
                "type": "integer",
                "minimum": 0,
                "maximum": 10,
                "default": 0,
                "x-variable": "IntegerVar",
            },
            "dry_run": {"title": "Dry run", "type": "boolean", "default": False, "x-variable": "BooleanVar"},
            "color": {
                "title": "Color",
                "type": "string",
                "oneOf": [{"const": "ff0000", "title": "Red"}, {"const": "00ff00", "title": "Green"}],
                "default": "ff0000",
                "x-variable": "ChoiceVar",
            },
            "colors": {
                "title": "Colors",
                "type": "array",
                "items": {"type": "string", "oneOf": [{"const": "1", "title": "One"}, {"const": "2", "title": "Two"}]},
                "default": ["1"],
                "x-variable": "MultiChoiceVar",
            },
            "manufacturer": {
                "title": "Manufacturer",
                "type": ["string", "object"],
                "format": "uuid",
                "x-model": "dcim.manufacturer",
                "x-display-field": "display",
                "x-variable": "ObjectVar",
            },
            "device_type": {
                "title": "Device type",
                "type": ["string", "object"],
                "format": "uuid",
                "x-model": "dcim.devicetype",
                "x-display-field": "model",
                "x-query-params": {"manufacturer_id": "$manufacturer"},
                "x-null-option": "Any",
                "x-variable": "ObjectVar",
            },
            "roles": {
                "title": "Roles",
                "type": "array",
                "items": {"type": "string", "format": "uuid"},
                "x-model": "dcim.devicerole",
                "x-display-field": "display",
                "x-variable": "MultiObjectVar",
            },
            "config": {"title": "Config", "type": "string", "contentEncoding": "binary", "x-variable": "FileVar"},
            "gateway": {
                "title": "Gateway",
                "type": "string",
                "x-format": "ip-address",
                "default": "192.0.2.1",
                "x-variable": "IPAddressVar",
            },
            "interface": {
                "title": "Interface", "type": "string", "x-format": "ip-interface", "x-variable": "IPAddressWithMaskVar"
            },
            "prefix": {
                "title": "Prefix",
                "type": "string",
                "x-format": "ip-network",
                "x-min-prefix-length": 8,
                "x-max-prefix-length": 30,
                "x-variable": "IPNetworkVar",
            },
        },
        "required": ["hostname", "device_type", "config", "interface"],
        "additionalProperties": False,
        "x-order": [
            "hostname", "notes", "count", "dry_run", "color", "colors", "manufacturer", "device_type",
            "roles", "config", "gateway", "interface", "prefix",
        ],
    }


def test_properties_follow_form_order() -> None:
    variables = ordered_variables(EveryVariableJob, ["prefix", "hostname"])
    result = form_schema("t", "d", variables)
    assert list(result["properties"])[:3] == ["prefix", "hostname", "notes"]
    assert result["x-order"] == list(result["properties"])


def test_schema_is_json_serialisable_and_deterministic() -> None:
    assert json.dumps(schema()) == json.dumps(schema())


def test_required_variable_with_a_default_is_not_required_in_the_schema() -> None:
    assert form_schema("t", "", {"a": StringVar(default="x"), "b": StringVar()})["required"] == ["b"]


def test_a_blank_default_leaves_a_required_variable_required_as_validation_does() -> None:
    variables = {"note": StringVar(default=""), "tags": MultiChoiceVar(choices=(("a", "A"),), default=[])}
    assert form_schema("t", "", variables)["required"] == ["note", "tags"]


def test_option_groups_are_flattened_into_choices_carrying_their_group() -> None:
    variable = ChoiceVar(choices=(("Ethernet", (("1g", "1 Gbps"), ("10g", "10 Gbps"))), ("other", "Other")))
    assert form_schema("t", "", {"speed": variable})["properties"]["speed"]["oneOf"] == [
        {"const": "1g", "title": "1 Gbps", "x-group": "Ethernet"},
        {"const": "10g", "title": "10 Gbps", "x-group": "Ethernet"},
        {"const": "other", "title": "Other"},
    ]


def test_boolean_default_true_is_shown() -> None:
    assert form_schema("t", "", {"flag": BooleanVar(default=True)})["properties"]["flag"]["default"] is True


def test_widget_given_as_a_string_is_kept() -> None:
    assert form_schema("t", "", {"a": StringVar(widget="password")})["properties"]["a"]["x-widget"] == "password"


def test_widget_instance_is_named_by_its_class() -> None:
    properties = form_schema("t", "", {"a": StringVar(widget=TextareaWidget())})["properties"]
    assert properties["a"]["x-widget"] == "TextareaWidget"


def test_custom_variable_type_accepts_any_value() -> None:
    class CustomVar(ScriptVariable):
        pass

    assert form_schema("t", "", {"a": CustomVar()})["properties"]["a"] == {"title": "A", "x-variable": "CustomVar"}


def test_empty_form_has_no_properties() -> None:
    result = form_schema("t", "", {})
    assert (result["properties"], result["required"], result["x-order"]) == ({}, [], [])


VALID_INPUT = {
    "hostname": "edge1", "count": 3, "dry_run": True, "color": "00ff00", "colors": ["1", "2"],
    "device_type": "6f1c1b2e-5b0e-4a57-9d7f-2f3c8a1e0b11", "config": "inventory.csv",
    "gateway": "192.0.2.1", "interface": "192.0.2.1/24",
}


def test_generated_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())


@pytest.mark.parametrize("root", [Path(__file__).parents[1] / "jobs", Path(__file__).parent / "job_modules"],
                         ids=["jobs", "test job modules"])
def test_every_example_job_describes_a_valid_schema(root: Path) -> None:
    classes = list(discover(root).jobs.values())
    assert classes
    for job in classes:
        jsonschema.Draft202012Validator.check_schema(job.form_schema())


def test_schema_accepts_valid_input() -> None:
    jsonschema.Draft202012Validator(schema()).validate(VALID_INPUT)


@pytest.mark.parametrize("change", [
    {"count": 11}, {"count": "3"}, {"hostname": "Edge1"}, {"color": "0000ff"}, {"colors": ["3"]}, {"dry_run": "yes"},
], ids=["above max", "string for integer", "pattern", "unknown choice", "unknown multi choice", "string for boolean"])
def test_schema_rejects_what_validation_rejects(change: dict) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema()).validate({**VALID_INPUT, **change})


def test_schema_requires_the_required_variables() -> None:
    without_hostname = {key: value for key, value in VALID_INPUT.items() if key != "hostname"}
    with pytest.raises(jsonschema.ValidationError, match="'hostname' is a required property"):
        jsonschema.Draft202012Validator(schema()).validate(without_hostname)
