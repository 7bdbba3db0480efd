"""The run form generated from a job's JSON Schema, and what its object pickers offer."""

from __future__ import annotations

import pytest
from starlette.datastructures import FormData

from jobruntime import (
    BooleanVar,
    ChoiceVar,
    FileVar,
    IntegerVar,
    IPNetworkVar,
    Job,
    MultiChoiceVar,
    ObjectVar,
    StringVar,
    TextVar,
)
from jobruntime.models import DeviceType, Manufacturer
from jobruntime.web.errors import ApiError
from jobruntime.web.ui.forms import build_fields, offered_objects, place_errors, read_form


class Provision(Job):
    class Meta:
        name = "Provision"

    hostname = StringVar(max_length=20, description="Short name")
    count = IntegerVar(min_value=1, max_value=4, default=2)
    speed = ChoiceVar(choices=(("1g", "1 Gbps"), ("10g", "10 Gbps")))
    features = MultiChoiceVar(choices=(("ssh", "SSH"), ("snmp", "SNMP")), required=False)
    dry = BooleanVar(default=True)
    notes = TextVar(required=False)
    network = IPNetworkVar(required=False)
    config = FileVar(required=False)
    manufacturer = ObjectVar(model=Manufacturer, required=False)
    device_type = ObjectVar(model=DeviceType, query_params={"manufacturer_id": "$manufacturer"}, required=False)

    def run(self, data, commit):
        return None


def fields_by_name():
    return {field.name: field for field in build_fields(Provision.form_schema())}


def test_each_variable_gets_the_input_its_schema_calls_for_named_after_it():
    fields = fields_by_name()
    assert list(fields) == ["hostname", "count", "speed", "features", "dry", "notes", "network", "config",
                            "manufacturer", "device_type"]
    widgets = {name: (field.widget, field.multiple) for name, field in fields.items()}
    assert widgets == {
        "hostname": ("text", False), "count": ("number", False), "speed": ("select", False),
        "features": ("select", True), "dry": ("checkbox", False), "notes": ("textarea", False),
        "network": ("text", False), "config": ("file", False), "manufacturer": ("picker", False),
        "device_type": ("picker", False),
    }
    assert fields["hostname"].attrs == {"maxlength": 20} and fields["hostname"].help == "Short name"
    assert fields["hostname"].required and not fields["notes"].required
    assert (fields["count"].attrs, fields["count"].value) == ({"min": 1, "max": 4}, 2)
    assert fields["speed"].choices == [("1g", "1 Gbps"), ("10g", "10 Gbps")]
    assert fields["dry"].value is True
    assert fields["network"].attrs == {"placeholder": "192.0.2.0/24"}
    assert fields["device_type"].refers_to == ["manufacturer"]


def test_a_submitted_form_becomes_run_data_with_blank_inputs_left_to_their_defaults():
    form = FormData([("hostname", "edge1"), ("count", ""), ("speed", "10g"), ("features", "ssh"),
                     ("features", "snmp"), ("notes", "  "), ("device_type", "abc")])
    data, files = read_form(build_fields(Provision.form_schema()), form)
    assert data == {"hostname": "edge1", "speed": "10g", "features": ["ssh", "snmp"], "dry": False,
                    "device_type": "abc"}
    assert files == {}


def test_field_errors_go_next_to_their_field_and_the_rest_to_the_page():
    fields = build_fields(Provision.form_schema())
    general = place_errors(fields, ApiError(400, {"errors": {"count": ["Too many."], "ghost": ["Odd."]}}))
    assert {field.name: field.errors for field in fields if field.errors} == {"count": ["Too many."]}
    assert general == ["ghost: Odd."]
    assert place_errors(fields, ApiError(403, {"detail": "This job is not enabled to be run."})) == [
        "This job is not enabled to be run."]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_picker_offers_only_objects_its_query_params_allow_given_the_other_fields(session):
    cisco, juniper = Manufacturer(name="Cisco", slug="cisco"), Manufacturer(name="Juniper", slug="juniper")
    session.add_all([cisco, juniper])
    session.flush()
    session.add_all([DeviceType(manufacturer=cisco, model="C9300", slug="c9300"),
                     DeviceType(manufacturer=cisco, model="C9500", slug="c9500"),
                     DeviceType(manufacturer=juniper, model="EX4300", slug="ex4300")])
    session.flush()
    variables = Provision.variables()
    offered = offered_objects(variables["device_type"], variables, {"manufacturer": str(cisco.pk)})
    assert [label for _pk, label in offered] == ["Cisco C9300", "Cisco C9500"]
    searched = offered_objects(variables["device_type"], variables, {"manufacturer": str(cisco.pk)}, "95")
    assert [label for _pk, label in searched] == ["Cisco C9500"]
    unfiltered = offered_objects(variables["device_type"], variables, {})  # an empty $manufacturer drops its filter
    assert len(unfiltered) == 3
