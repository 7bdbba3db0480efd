"""validate_data: checks per variable type, defaults, error reporting, object lookups.

The first part needs no database (object variables appear only where the
first pass refuses them); the tests using the ``session`` fixture load objects
and run once on SQLite and once on PostgreSQL.
"""

from __future__ import annotations

import io
import uuid
from types import SimpleNamespace
from typing import Any

import netaddr
import pytest
from sqlalchemy.orm import Session

from jobruntime.authoring.inputs import (
    InputValidationError,
    NamedBytesIO,
    VariableError,
    serialize_value,
    validate_data,
)
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
from jobruntime.models import DeviceRole, DeviceType, Manufacturer, QuerySet

COLORS = (("ff0000", "Red"), ("00ff00", "Green"), ("0000ff", "Blue"))


def errors_of(variables: dict[str, ScriptVariable], data: Any) -> list[tuple[str, str, str]]:
    with pytest.raises(InputValidationError) as caught:
        validate_data(variables, data)
    return [(error.variable, error.rule, error.message) for error in caught.value.errors]


def clean(variable: ScriptVariable, value: Any) -> Any:
    return validate_data({"var": variable}, {"var": value})["var"]


def error_of(variable: ScriptVariable, value: Any) -> tuple[str, str]:
    (error,) = errors_of({"var": variable}, {"var": value})
    return error[1], error[2]


# -- the data as a whole ------------------------------------------------------------------


@pytest.mark.parametrize("data", [["var"], "var=1", None, 5])
def test_data_that_is_not_a_dict_is_refused(data: Any) -> None:
    assert errors_of({"var": StringVar()}, data) == [("data", "type", "Data should be a dictionary.")]


def test_unknown_key_is_refused() -> None:
    assert errors_of({"var": StringVar(required=False)}, {"other": 1}) == [
        ("other", "unknown", "Job data contained an unknown property")
    ]


def test_missing_required_variable_is_refused() -> None:
    assert errors_of({"var": StringVar()}, {}) == [("var", "required", "This field is required.")]


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_value_for_required_variable_is_refused(value: Any) -> None:
    assert error_of(StringVar(), value) == ("required", "This field is required.")


@pytest.mark.parametrize("variable", [StringVar(), ObjectVar(model=DeviceRole)], ids=["StringVar", "ObjectVar"])
def test_null_for_a_required_variable_is_refused_in_nautobots_words(variable: ScriptVariable) -> None:
    assert error_of(variable, None) == ("required", "var is a required field")


def test_every_error_is_reported_at_once_in_form_order() -> None:
    variables = {
        "name": StringVar(max_length=2),
        "count": IntegerVar(min_value=1),
        "color": ChoiceVar(choices=COLORS),
        "prefix": IPNetworkVar(),
        "role": ObjectVar(model=DeviceRole),
    }
    data = {"bogus": True, "prefix": "10.0.0.1/8", "count": 0, "name": "abc"}
    assert errors_of(variables, data) == [
        ("name", "max_length", "Ensure this value has at most 2 characters (it has 3)."),
        ("count", "min_value", "Ensure this value is greater than or equal to 1."),
        ("color", "required", "This field is required."),
        ("prefix", "prefix", "10.0.0.1/8 is not a valid prefix. Did you mean 10.0.0.0/8?"),
        ("role", "required", "This field is required."),
        ("bogus", "unknown", "Job data contained an unknown property"),
    ]


def test_error_text_has_one_line_per_error() -> None:
    with pytest.raises(InputValidationError) as caught:
        validate_data({"a": StringVar(), "b": IntegerVar()}, {"b": "x"})
    assert str(caught.value) == "a: This field is required.\nb: Enter a whole number."


def test_errors_group_by_variable() -> None:
    with pytest.raises(InputValidationError) as caught:
        validate_data({"a": StringVar(min_length=3, regex="^[0-9]+$"), "b": IntegerVar()}, {"a": "x"})
    assert caught.value.as_dict() == {
        "a": ["Ensure this value has at least 3 characters (it has 1).", "Invalid value. Must match regex: ^[0-9]+$"],
        "b": ["This field is required."],
    }


def test_input_validation_error_is_a_value_error_carrying_variable_errors() -> None:
    with pytest.raises(ValueError) as caught:
        validate_data({"a": StringVar()}, {})
    errors = caught.value.errors  # type: ignore[attr-defined]
    assert errors == [VariableError("a", "required", "This field is required.")]


def test_result_holds_every_variable_in_form_order() -> None:
    variables = {"z": StringVar(required=False), "a": IntegerVar(required=False), "m": BooleanVar()}
    assert list(validate_data(variables, {"a": 1})) == ["z", "a", "m"]


def test_variable_names_that_pydantic_reserves_are_accepted() -> None:
    variables = {"json": StringVar(), "model_config": IntegerVar(), "copy": BooleanVar()}
    assert validate_data(variables, {"json": "x", "model_config": 3, "copy": True}) == {
        "json": "x", "model_config": 3, "copy": True
    }


def test_the_input_model_is_built_once_per_set_of_variables() -> None:
    from jobruntime.authoring.inputs import _input_model

    variables = {"a": StringVar()}
    validate_data(variables, {"a": "x"})
    hits = _input_model.cache_info().hits
    validate_data(dict(variables), {"a": "y"})
    assert _input_model.cache_info().hits == hits + 1


# -- defaults and empty values --------------------------------------------------------------


def test_omitted_variable_gets_its_default() -> None:
    assert validate_data({"var": StringVar(default="hello")}, {}) == {"var": "hello"}


def test_falsy_default_is_used() -> None:
    assert validate_data({"var": IntegerVar(default=0)}, {}) == {"var": 0}


def test_default_is_validated_like_input() -> None:
    assert validate_data({"var": IntegerVar(default="5")}, {}) == {"var": 5}


def test_an_invalid_default_is_reported_under_its_variable_name() -> None:
    variables = {
        "hostname": StringVar(min_length=5, default="ab"),
        "count": IntegerVar(min_value=1, default=0),
        "colour": ChoiceVar(choices=COLORS, default="blue"),
    }
    assert [(variable, rule) for variable, rule, _ in errors_of(variables, {})] == [
        ("hostname", "min_length"), ("count", "min_value"), ("colour", "choice"),
    ]


def test_an_invalid_default_never_blames_a_variable_named_like_an_internal_field() -> None:
    variables = {"v1": StringVar(), "count": IntegerVar(min_value=10, default=1)}
    assert errors_of(variables, {"v1": "ok"}) == [
        ("count", "min_value", "Ensure this value is greater than or equal to 10."),
    ]


def test_given_value_wins_over_default() -> None:
    assert validate_data({"var": StringVar(default="hello")}, {"var": "bye"}) == {"var": "bye"}


def test_optional_variable_given_none_gets_its_empty_value_not_its_default() -> None:
    assert validate_data({"var": StringVar(default="x", required=False)}, {"var": None}) == {"var": ""}


@pytest.mark.parametrize(
    ("variable", "empty"),
    [
        (StringVar(required=False), ""),
        (TextVar(required=False), ""),
        (ChoiceVar(choices=COLORS, required=False), ""),
        (IntegerVar(required=False), None),
        (BooleanVar(), False),
        (MultiChoiceVar(choices=COLORS, required=False), []),
        (ObjectVar(model=DeviceRole, required=False), None),
        (FileVar(required=False), None),
        (IPAddressVar(required=False), None),
        (IPAddressWithMaskVar(required=False), None),
        (IPNetworkVar(required=False), None),
    ],
    ids=lambda item: type(item).__name__ if isinstance(item, ScriptVariable) else repr(item),
)
def test_optional_omitted_variable_gets_its_empty_value(variable: ScriptVariable, empty: Any) -> None:
    assert validate_data({"var": variable}, {}) == {"var": empty}
    assert validate_data({"var": variable}, {"var": None}) == {"var": empty}


def test_empty_list_values_are_fresh_for_every_call() -> None:
    variables = {"var": MultiChoiceVar(choices=COLORS, required=False)}
    first = validate_data(variables, {})["var"]
    first.append("ff0000")
    assert validate_data(variables, {})["var"] == []


# -- StringVar and TextVar ----------------------------------------------------------------


@pytest.mark.parametrize("value", [5, ["a"], {"a": 1}, True])
def test_string_var_refuses_non_strings(value: Any) -> None:
    assert error_of(StringVar(), value) == ("type", "Enter a string.")


def test_string_var_strips_surrounding_whitespace() -> None:
    assert clean(StringVar(), "  abc \n") == "abc"


def test_string_var_min_length() -> None:
    assert error_of(StringVar(min_length=3), "xx") == (
        "min_length", "Ensure this value has at least 3 characters (it has 2)."
    )


def test_string_var_max_length() -> None:
    assert error_of(StringVar(max_length=3), "xxxx") == (
        "max_length", "Ensure this value has at most 3 characters (it has 4)."
    )


def test_string_var_max_length_zero_is_enforced() -> None:
    assert error_of(StringVar(max_length=0, required=False), "a") == (
        "max_length", "Ensure this value has at most 0 characters (it has 1)."
    )


def test_string_var_length_is_measured_after_stripping() -> None:
    assert clean(StringVar(max_length=3), "  abc  ") == "abc"


def test_string_var_regex() -> None:
    assert error_of(StringVar(regex="[a-z]+"), "ABC") == ("regex", "Invalid value. Must match regex: [a-z]+")


def test_string_var_regex_uses_search_semantics() -> None:
    assert clean(StringVar(regex="[a-z]+"), "12abc34") == "12abc34"


def test_string_var_anchored_regex_needs_a_full_match() -> None:
    assert error_of(StringVar(regex="^[a-z]+$"), "12abc34")[0] == "regex"


@pytest.mark.parametrize(("value", "valid"), [("xx", False), ("xxxx", False), ("ABC", False), ("abc", True)])
def test_string_var_reference_cases(value: str, valid: bool) -> None:
    variables = {"var": StringVar(min_length=3, max_length=3, regex="[a-z]+")}
    if valid:
        assert validate_data(variables, {"var": value}) == {"var": value}
    else:
        errors_of(variables, {"var": value})


def test_string_var_reports_every_broken_rule() -> None:
    assert [rule for _, rule, _ in errors_of({"var": StringVar(min_length=3, regex="^[a-z]+$")}, {"var": "A"})] == [
        "min_length", "regex"
    ]


@pytest.mark.parametrize("variable", [StringVar(), TextVar()])
def test_text_with_a_null_character_is_refused(variable: ScriptVariable) -> None:
    assert error_of(variable, "sw\x00itch") == ("null_characters", "Null characters are not allowed.")


def test_text_var_keeps_inner_text_unchanged() -> None:
    assert clean(TextVar(), "This is some text\nwith a newline") == "This is some text\nwith a newline"


def test_text_var_refuses_non_strings() -> None:
    assert error_of(TextVar(), 3) == ("type", "Enter a string.")


# -- IntegerVar ---------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [(7, 7), ("7", 7), (" -3 ", -3), ("+4", 4), (7.0, 7)])
def test_integer_var_accepts_whole_numbers_and_numeric_strings(value: Any, expected: int) -> None:
    assert clean(IntegerVar(), value) == expected


@pytest.mark.parametrize("value", [True, False, "abc", "7.5", 7.5, "1e3", {"a": 1}])
def test_integer_var_refuses_other_values(value: Any) -> None:
    assert error_of(IntegerVar(), value) == ("type", "Enter a whole number.")


@pytest.mark.parametrize(("value", "valid"), [(4, False), (11, False), (7, True)])
def test_integer_var_reference_cases(value: int, valid: bool) -> None:
    variables = {"var": IntegerVar(min_value=5, max_value=10)}
    if valid:
        assert validate_data(variables, {"var": value}) == {"var": value}
    else:
        errors_of(variables, {"var": value})


def test_integer_var_min_value() -> None:
    assert error_of(IntegerVar(min_value=5), 4) == ("min_value", "Ensure this value is greater than or equal to 5.")


def test_integer_var_max_value() -> None:
    assert error_of(IntegerVar(max_value=10), 11) == ("max_value", "Ensure this value is less than or equal to 10.")


def test_integer_var_min_value_zero_is_enforced() -> None:
    assert error_of(IntegerVar(min_value=0), -1) == ("min_value", "Ensure this value is greater than or equal to 0.")


def test_integer_var_max_value_zero_is_enforced() -> None:
    assert error_of(IntegerVar(max_value=0), 1) == ("max_value", "Ensure this value is less than or equal to 0.")


def test_integer_var_bounds_are_inclusive() -> None:
    assert clean(IntegerVar(min_value=0, max_value=0), 0) == 0


# -- BooleanVar ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), ("true", True), ("False", False), ("1", True), ("0", False), (1, True), (0, False)],
)
def test_boolean_var_accepts_true_and_false_spellings(value: Any, expected: bool) -> None:
    assert clean(BooleanVar(), value) is expected


@pytest.mark.parametrize("value", ["yes", "on", 2, -1, [True], 0.5])
def test_boolean_var_refuses_other_values(value: Any) -> None:
    assert error_of(BooleanVar(), value) == ("type", "Enter true or false.")


def test_boolean_var_omitted_uses_its_default() -> None:
    assert validate_data({"var": BooleanVar(default=True)}, {}) == {"var": True}


# -- ChoiceVar and MultiChoiceVar ---------------------------------------------------------


def test_choice_var_accepts_a_choice_value() -> None:
    assert clean(ChoiceVar(choices=COLORS), "ff0000") == "ff0000"


def test_choice_var_refuses_other_values() -> None:
    assert error_of(ChoiceVar(choices=COLORS), "taupe") == (
        "choice", "Select a valid choice. taupe is not one of the available choices."
    )


def test_choice_var_refuses_a_label() -> None:
    assert error_of(ChoiceVar(choices=COLORS), "Red")[0] == "choice"


@pytest.mark.parametrize("value", [1, "1"])
def test_choice_var_compares_values_as_strings(value: Any) -> None:
    assert clean(ChoiceVar(choices=((1, "One"), (2, "Two"))), value) == "1"


def test_choice_var_refuses_a_list() -> None:
    assert error_of(ChoiceVar(choices=COLORS), ["ff0000"])[0] == "choice"


GROUPED = (("Ethernet", (("1g", "1 Gbps"), ("10g", "10 Gbps"))), ("other", "Other"))


@pytest.mark.parametrize("value", ["1g", "10g", "other"])
def test_choice_var_option_groups_offer_their_members(value: str) -> None:
    assert clean(ChoiceVar(choices=GROUPED), value) == value


def test_choice_var_option_group_label_is_not_a_choice() -> None:
    assert error_of(ChoiceVar(choices=GROUPED), "Ethernet") == (
        "choice", "Select a valid choice. Ethernet is not one of the available choices.",
    )


def test_multi_choice_var_accepts_a_list() -> None:
    assert clean(MultiChoiceVar(choices=COLORS), ["ff0000"]) == ["ff0000"]


def test_multi_choice_var_accepts_a_tuple() -> None:
    assert clean(MultiChoiceVar(choices=COLORS), ("ff0000", "00ff00")) == ["ff0000", "00ff00"]


def test_multi_choice_var_refuses_a_single_value() -> None:
    assert error_of(MultiChoiceVar(choices=COLORS), "taupe") == ("type", "Enter a list of values.")


def test_multi_choice_var_reports_each_invalid_element() -> None:
    assert errors_of({"var": MultiChoiceVar(choices=COLORS)}, {"var": ["taupe", "ff0000", "mauve"]}) == [
        ("var", "choice", "Select a valid choice. taupe is not one of the available choices."),
        ("var", "choice", "Select a valid choice. mauve is not one of the available choices."),
    ]


def test_multi_choice_var_required_refuses_an_empty_list() -> None:
    assert error_of(MultiChoiceVar(choices=COLORS), []) == ("required", "This field is required.")


# -- object variables, first pass (no database needed) -------------------------------------


@pytest.mark.parametrize("value", [["a", "b"], {}, True, 1.5, 7, {1: "x"}])
def test_object_var_refuses_values_that_are_neither_pk_nor_lookups(value: Any) -> None:
    assert error_of(ObjectVar(model=DeviceRole), value)[0] == "type"


def test_object_var_null_option_turns_null_into_none() -> None:
    assert clean(ObjectVar(model=DeviceRole, null_option="None", required=False), "null") is None


def test_object_var_null_option_still_honours_required() -> None:
    assert error_of(ObjectVar(model=DeviceRole, null_option="None"), "null") == ("required", "This field is required.")


@pytest.mark.parametrize("value", ["abc", {"name": "x"}, [["a"]], [None], [7]])
def test_multi_object_var_needs_a_list_of_pks(value: Any) -> None:
    assert error_of(MultiObjectVar(model=DeviceRole), value) == ("type", "Enter a list of values.")


# -- FileVar ------------------------------------------------------------------------------


def test_file_var_wraps_bytes_in_a_named_file() -> None:
    uploaded = clean(FileVar(), b"hello")
    assert isinstance(uploaded, NamedBytesIO)
    assert (uploaded.read(), uploaded.name) == (b"hello", "var")


def test_file_var_passes_a_file_object_through() -> None:
    handle = io.BytesIO(b"content")
    assert clean(FileVar(), handle) is handle


@pytest.mark.parametrize("value", ["text", 5, ["a"]])
def test_file_var_refuses_other_values(value: Any) -> None:
    assert error_of(FileVar(), value) == ("type", "Expected an uploaded file.")


# -- IP variables -------------------------------------------------------------------------


def test_ip_address_var_returns_an_ip_address() -> None:
    assert clean(IPAddressVar(), "192.0.2.1") == netaddr.IPAddress("192.0.2.1")


def test_ip_address_var_accepts_ipv6() -> None:
    assert clean(IPAddressVar(), "2001:db8::1") == netaddr.IPAddress("2001:db8::1")


@pytest.mark.parametrize("value", ["1.2.3", "foo", "256.1.1.1", "foo/24", 5])
def test_ip_address_var_refuses_malformed_addresses(value: Any) -> None:
    assert error_of(IPAddressVar(), value) == ("format", f"Invalid IPv4/IPv6 address format: {value}")


def test_ip_address_var_refuses_a_mask() -> None:
    assert error_of(IPAddressVar(), "192.0.2.0/24") == ("mask", "This field requires an IP address without a mask.")


def test_ip_address_with_mask_var_keeps_host_bits() -> None:
    value = clean(IPAddressWithMaskVar(), "192.0.2.1/24")
    assert isinstance(value, netaddr.IPNetwork)
    assert str(value) == "192.0.2.1/24"


def test_ip_address_with_mask_var_accepts_a_network() -> None:
    assert clean(IPAddressWithMaskVar(), "192.0.2.0/24") == netaddr.IPNetwork("192.0.2.0/24")


@pytest.mark.parametrize("kind", [IPAddressWithMaskVar, IPNetworkVar])
@pytest.mark.parametrize("value", ["192.0.2.0", "1.2.3", "2001:db8::"])
def test_mask_carrying_vars_require_a_mask(kind: type[ScriptVariable], value: str) -> None:
    assert error_of(kind(), value) == ("mask", "CIDR mask (e.g. /24) is required.")


@pytest.mark.parametrize("kind", [IPAddressWithMaskVar, IPNetworkVar])
@pytest.mark.parametrize("value", ["1.2.3/24", "192.0.2.0/33", "foo/8"])
def test_mask_carrying_vars_refuse_malformed_values(kind: type[ScriptVariable], value: str) -> None:
    assert error_of(kind(), value) == ("format", f"Invalid IPv4/IPv6 address format: {value}")


def test_ip_network_var_returns_a_network() -> None:
    assert clean(IPNetworkVar(), "192.0.2.0/24") == netaddr.IPNetwork("192.0.2.0/24")


def test_ip_network_var_refuses_host_bits() -> None:
    assert error_of(IPNetworkVar(), "192.0.2.1/24") == (
        "prefix", "192.0.2.1/24 is not a valid prefix. Did you mean 192.0.2.0/24?"
    )


def test_ip_network_var_min_prefix_length() -> None:
    assert error_of(IPNetworkVar(min_prefix_length=25), "192.0.2.0/24") == (
        "min_prefix_length", "The prefix length must be greater than or equal to 25."
    )


def test_ip_network_var_max_prefix_length() -> None:
    assert error_of(IPNetworkVar(max_prefix_length=23), "192.0.2.0/24") == (
        "max_prefix_length", "The prefix length must be less than or equal to 23."
    )


def test_ip_network_var_max_prefix_length_zero_is_enforced() -> None:
    assert error_of(IPNetworkVar(max_prefix_length=0), "128.0.0.0/1")[0] == "max_prefix_length"


def test_ip_network_var_min_prefix_length_zero_allows_the_default_route() -> None:
    assert clean(IPNetworkVar(min_prefix_length=0), "0.0.0.0/0") == netaddr.IPNetwork("0.0.0.0/0")


def test_ip_network_var_reports_host_bits_and_bounds_together() -> None:
    assert [rule for _, rule, _ in errors_of({"v": IPNetworkVar(max_prefix_length=16)}, {"v": "10.0.0.1/24"})] == [
        "prefix", "max_prefix_length"
    ]


# -- serialize_value ----------------------------------------------------------------------


def test_serialize_value_makes_values_json_safe() -> None:
    role = SimpleNamespace(pk="1f0e", name="leaf")
    cases = [
        (ObjectVar(model=DeviceRole), role, "1f0e"),
        (MultiObjectVar(model=DeviceRole), [role, SimpleNamespace(pk="2a2b")], ["1f0e", "2a2b"]),
        (IPAddressVar(), netaddr.IPAddress("192.0.2.1"), "192.0.2.1"),
        (IPAddressWithMaskVar(), netaddr.IPNetwork("192.0.2.1/24"), "192.0.2.1/24"),
        (FileVar(), NamedBytesIO(b"x", name="config.txt"), "config.txt"),
        (StringVar(), "abc", "abc"),
        (ObjectVar(model=DeviceRole, required=False), None, None),
    ]
    assert [serialize_value(variable, value) for variable, value, _ in cases] == [json for _, _, json in cases]


# -- object variables against the database -------------------------------------------------


@pytest.fixture
def inventory(session: Session) -> SimpleNamespace:
    cisco = Manufacturer.objects.create(name="Cisco")
    juniper = Manufacturer.objects.create(name="Juniper")
    return SimpleNamespace(
        cisco=cisco,
        juniper=juniper,
        isr=DeviceType.objects.create(manufacturer=cisco, model="ISR4331"),
        nexus=DeviceType.objects.create(manufacturer=cisco, model="N9K"),
        mx=DeviceType.objects.create(manufacturer=juniper, model="MX204"),
        access=DeviceRole.objects.create(name="Access Switch"),
        core=DeviceRole.objects.create(name="Core Router"),
        leaf=DeviceRole.objects.create(name="Leaf"),
    )


ROLE = {"role": ObjectVar(model=DeviceRole)}
ROLES = {"roles": MultiObjectVar(model=DeviceRole)}
BY_MANUFACTURER = {
    "manufacturer": ObjectVar(model=Manufacturer, required=False),
    "device_type": ObjectVar(model=DeviceType, query_params={"manufacturer_id": "$manufacturer"}),
}


def test_object_var_pk_string_gives_the_instance(inventory: SimpleNamespace) -> None:
    assert validate_data(ROLE, {"role": str(inventory.access.pk)})["role"] is inventory.access


def test_object_var_pk_uuid_gives_the_instance(inventory: SimpleNamespace) -> None:
    assert validate_data(ROLE, {"role": inventory.core.pk})["role"] is inventory.core


def test_object_var_pk_in_upper_case_gives_the_instance(inventory: SimpleNamespace) -> None:
    assert validate_data(ROLE, {"role": str(inventory.core.pk).upper()})["role"] is inventory.core


def test_object_var_instance_is_accepted(inventory: SimpleNamespace) -> None:
    assert validate_data(ROLE, {"role": inventory.leaf})["role"] is inventory.leaf


def test_object_var_lookup_dict_gives_the_instance(inventory: SimpleNamespace) -> None:
    assert validate_data(ROLE, {"role": {"name": "Access Switch"}})["role"] is inventory.access


def test_object_var_lookup_dict_may_cross_relations(inventory: SimpleNamespace) -> None:
    variables = {"device_type": ObjectVar(model=DeviceType)}
    assert validate_data(variables, {"device_type": {"manufacturer__name": "Juniper"}})["device_type"] is inventory.mx


def test_object_var_default_pk_is_loaded(inventory: SimpleNamespace) -> None:
    variables = {"role": ObjectVar(model=DeviceRole, default=str(inventory.leaf.pk))}
    assert validate_data(variables, {})["role"] is inventory.leaf


def test_object_var_unknown_pk_is_not_found(inventory: SimpleNamespace) -> None:
    missing = uuid.uuid4()
    assert errors_of(ROLE, {"role": str(missing)}) == [("role", "not_found", f"No DeviceRole matches pk {missing}.")]


def test_object_var_pk_that_is_not_a_uuid_is_not_found(inventory: SimpleNamespace) -> None:
    assert errors_of(ROLE, {"role": "abc"}) == [("role", "not_found", "No DeviceRole matches pk abc.")]


def test_object_var_lookup_matching_nothing_is_not_found(inventory: SimpleNamespace) -> None:
    assert errors_of(ROLE, {"role": {"name": "Spine"}}) == [
        ("role", "not_found", 'No DeviceRole matches {"name": "Spine"}.')
    ]


def test_object_var_lookup_matching_several_objects_is_refused(inventory: SimpleNamespace) -> None:
    variables = {"device_type": ObjectVar(model=DeviceType)}
    assert errors_of(variables, {"device_type": {"manufacturer__name": "Cisco"}}) == [
        (
            "device_type",
            "multiple",
            '2 DeviceType objects match {"manufacturer__name": "Cisco"}; a lookup must match exactly one.',
        )
    ]


def test_object_var_lookup_on_unknown_field_reports_the_model_error(inventory: SimpleNamespace) -> None:
    ((variable, rule, message),) = errors_of(ROLE, {"role": {"colour": "red"}})
    assert (variable, rule) == ("role", "lookup")
    assert "DeviceRole has no field 'colour'" in message


def test_object_var_lookup_with_a_bad_value_reports_it(inventory: SimpleNamespace) -> None:
    ((variable, rule, message),) = errors_of(ROLE, {"role": {"pk": "not-a-uuid"}})
    assert (variable, rule) == ("role", "lookup")
    assert "not a valid UUID" in message


def test_lookup_the_database_refuses_is_reported_and_leaves_the_session_usable(
    session: Session, inventory: SimpleNamespace
) -> None:
    # PostgreSQL refuses to compare text with an integer; SQLite compares and matches all three.
    errors = errors_of(ROLE, {"role": {"name__gt": 5}})
    if session.get_bind().dialect.name == "postgresql":
        assert errors == [
            (
                "role",
                "lookup",
                'The lookup {"name__gt": 5} could not be run: operator does not exist: character varying > integer',
            )
        ]
    else:
        assert [rule for _, rule, _ in errors] == ["multiple"]
    assert DeviceRole.objects.count() == 3


def test_multi_object_var_gives_a_queryset_in_the_models_order(inventory: SimpleNamespace) -> None:
    pks = [str(inventory.leaf.pk), str(inventory.access.pk), str(inventory.core.pk)]
    roles = validate_data(ROLES, {"roles": pks})["roles"]
    assert isinstance(roles, QuerySet)
    assert list(roles) == sorted([inventory.leaf, inventory.access, inventory.core], key=lambda role: role.name)
    assert roles.count() == 3
    assert list(roles.filter(name=inventory.core.name)) == [inventory.core]
    assert sorted(roles.values_list("name", flat=True)) == sorted(r.name for r in (inventory.leaf, inventory.access,
                                                                                   inventory.core))


def test_multi_object_var_gives_an_object_named_twice_once(inventory: SimpleNamespace) -> None:
    pks = [str(inventory.leaf.pk), str(inventory.core.pk), str(inventory.leaf.pk).upper()]
    assert set(validate_data(ROLES, {"roles": pks})["roles"]) == {inventory.leaf, inventory.core}


def test_optional_omitted_multi_object_var_gets_an_empty_queryset(session: Session) -> None:
    roles = validate_data({"roles": MultiObjectVar(model=DeviceRole, required=False)}, {})["roles"]
    assert isinstance(roles, QuerySet)
    assert roles.count() == 0


def test_lookup_with_an_integer_the_database_cannot_hold_is_reported(inventory: SimpleNamespace) -> None:
    ((variable, rule, message),) = errors_of(ROLE, {"role": {"name": 10**30}})
    assert (variable, rule) == ("role", "lookup")
    assert message.startswith('The lookup {"name": 1000000000000000000000000000000} could not be run: ')
    assert DeviceRole.objects.count() == 3


def test_object_var_declared_with_a_queryset_warns_and_keeps_to_it(inventory: SimpleNamespace) -> None:
    with pytest.warns(DeprecationWarning, match="queryset is deprecated"):
        variable = ObjectVar(queryset=DeviceType.objects.filter(manufacturer__name="Cisco"))
    assert variable.model is DeviceType
    assert validate_data({"device_type": variable}, {"device_type": str(inventory.isr.pk)}) == {
        "device_type": inventory.isr
    }
    assert errors_of({"device_type": variable}, {"device_type": str(inventory.mx.pk)}) == [
        ("device_type", "queryset", "Select a valid choice. MX204 is not one of the available choices."),
    ]


def test_object_var_given_a_model_ignores_a_queryset(inventory: SimpleNamespace) -> None:
    variable = ObjectVar(model=DeviceType, queryset=DeviceType.objects.filter(manufacturer__name="Cisco"))
    assert variable.queryset is None
    chosen = validate_data({"device_type": variable}, {"device_type": str(inventory.mx.pk)})["device_type"]
    assert chosen is inventory.mx


def test_multi_object_var_lists_only_the_missing_pks(inventory: SimpleNamespace) -> None:
    first, second = str(uuid.uuid4()), "not-a-uuid"
    assert errors_of(ROLES, {"roles": [str(inventory.leaf.pk), first, str(inventory.core.pk), second]}) == [
        ("roles", "not_found", f"Failed to find requested objects for var roles: [{first}, {second}]")
    ]


def test_multi_object_var_required_refuses_an_empty_list(inventory: SimpleNamespace) -> None:
    assert errors_of(ROLES, {"roles": []}) == [("roles", "required", "This field is required.")]


def test_database_errors_are_reported_with_the_other_errors(inventory: SimpleNamespace) -> None:
    variables = {"name": StringVar(), **ROLE, **ROLES}
    missing = str(uuid.uuid4())
    assert errors_of(variables, {"name": 5, "role": {"name": "Spine"}, "roles": [missing]}) == [
        ("name", "type", "Enter a string."),
        ("role", "not_found", 'No DeviceRole matches {"name": "Spine"}.'),
        ("roles", "not_found", f"Failed to find requested objects for var roles: [{missing}]"),
    ]


def test_query_params_accept_a_matching_object(inventory: SimpleNamespace) -> None:
    data = {"manufacturer": str(inventory.cisco.pk), "device_type": str(inventory.isr.pk)}
    assert validate_data(BY_MANUFACTURER, data) == {"manufacturer": inventory.cisco, "device_type": inventory.isr}


def test_query_params_refuse_an_object_outside_the_filter(inventory: SimpleNamespace) -> None:
    data = {"manufacturer": str(inventory.cisco.pk), "device_type": str(inventory.mx.pk)}
    assert errors_of(BY_MANUFACTURER, data) == [
        (
            "device_type",
            "query_params",
            f'MX204 does not match the filter {{"manufacturer_id": "{inventory.cisco.pk}"}} for this field.',
        )
    ]


def test_query_params_filter_is_dropped_when_the_referenced_variable_is_omitted(inventory: SimpleNamespace) -> None:
    assert validate_data(BY_MANUFACTURER, {"device_type": str(inventory.mx.pk)})["device_type"] is inventory.mx


def test_query_params_are_not_checked_when_the_referenced_variable_is_invalid(inventory: SimpleNamespace) -> None:
    missing = uuid.uuid4()
    data = {"manufacturer": str(missing), "device_type": str(inventory.mx.pk)}
    assert errors_of(BY_MANUFACTURER, data) == [
        ("manufacturer", "not_found", f"No Manufacturer matches pk {missing}.")
    ]


def test_query_params_may_reference_a_variable_declared_later(inventory: SimpleNamespace) -> None:
    variables = dict(reversed(list(BY_MANUFACTURER.items())))
    data = {"manufacturer": str(inventory.juniper.pk), "device_type": str(inventory.isr.pk)}
    assert [rule for _, rule, _ in errors_of(variables, data)] == ["query_params"]


BY_MANUFACTURERS = {
    "manufacturers": MultiObjectVar(model=Manufacturer),
    "device_type": ObjectVar(model=DeviceType, query_params={"manufacturer_id": "$manufacturers"}),
}


def test_query_params_reference_to_a_multi_object_var_accepts_any_listed(inventory: SimpleNamespace) -> None:
    data = {"manufacturers": [str(inventory.cisco.pk), str(inventory.juniper.pk)], "device_type": str(inventory.mx.pk)}
    assert validate_data(BY_MANUFACTURERS, data)["device_type"] is inventory.mx


def test_query_params_reference_to_a_multi_object_var_refuses_others(inventory: SimpleNamespace) -> None:
    data = {"manufacturers": [str(inventory.cisco.pk)], "device_type": str(inventory.mx.pk)}
    assert errors_of(BY_MANUFACTURERS, data) == [
        (
            "device_type",
            "query_params",
            f'MX204 does not match the filter {{"manufacturer_id": ["{inventory.cisco.pk}"]}} for this field.',
        )
    ]


STARTS_WITH_CORE = {"role": ObjectVar(model=DeviceRole, query_params={"name__startswith": "Core"})}


def test_query_params_with_a_fixed_value_accept_a_match(inventory: SimpleNamespace) -> None:
    assert validate_data(STARTS_WITH_CORE, {"role": {"name": "Core Router"}})["role"] is inventory.core


def test_query_params_with_a_fixed_value_refuse_others(inventory: SimpleNamespace) -> None:
    assert errors_of(STARTS_WITH_CORE, {"role": {"name": "Leaf"}}) == [
        ("role", "query_params", 'Leaf does not match the filter {"name__startswith": "Core"} for this field.')
    ]


def test_query_params_key_without_a_relation_is_used_as_is(inventory: SimpleNamespace) -> None:
    variables = {"device_type": ObjectVar(model=DeviceType, query_params={"model": "N9K"})}
    assert validate_data(variables, {"device_type": str(inventory.nexus.pk)})["device_type"] is inventory.nexus


def test_query_params_apply_to_every_object_of_a_multi_object_var(inventory: SimpleNamespace) -> None:
    variables = {
        "manufacturer": ObjectVar(model=Manufacturer),
        "device_types": MultiObjectVar(model=DeviceType, query_params={"manufacturer_id": "$manufacturer"}),
    }
    chosen = [str(inventory.isr.pk), str(inventory.mx.pk), str(inventory.nexus.pk)]
    data = {"manufacturer": str(inventory.juniper.pk), "device_types": chosen}
    assert [message.split(" ")[0] for _, _, message in errors_of(variables, data)] == ["ISR4331", "N9K"]


def test_query_params_reference_to_an_unknown_variable_is_reported(inventory: SimpleNamespace) -> None:
    variables = {"role": ObjectVar(model=DeviceRole, query_params={"site_id": "$site"})}
    assert errors_of(variables, {"role": {"name": "Leaf"}}) == [
        ("role", "query_params", "query_params refers to $site, which is not a variable of this job.")
    ]


def test_query_params_with_an_unknown_field_are_reported(inventory: SimpleNamespace) -> None:
    variables = {"role": ObjectVar(model=DeviceRole, query_params={"colour": "red"})}
    ((_, rule, message),) = errors_of(variables, {"role": {"name": "Leaf"}})
    assert rule == "query_params"
    assert message.startswith('query_params {"colour": "red"} cannot be applied: DeviceRole has no field')


def test_serialized_values_validate_back_to_the_same_objects(inventory: SimpleNamespace) -> None:
    variables = {**ROLE, **ROLES, "device_type": ObjectVar(model=DeviceType)}
    cleaned = validate_data(
        variables,
        {"role": {"name": "Leaf"}, "roles": [str(inventory.core.pk)], "device_type": {"model": "MX204"}},
    )
    stored = {name: serialize_value(variables[name], value) for name, value in cleaned.items()}
    assert stored == {
        "role": str(inventory.leaf.pk), "roles": [str(inventory.core.pk)], "device_type": str(inventory.mx.pk)
    }
    again = validate_data(variables, stored)
    assert {**again, "roles": list(again["roles"])} == {**cleaned, "roles": list(cleaned["roles"])}
