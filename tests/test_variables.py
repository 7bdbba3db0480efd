"""Variable classes record their options; ordered_variables gives the form order."""

from __future__ import annotations

import pytest

import jobruntime.authoring.variables as variables_module
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


class FakeModel:
    """Stands in for a model class: variables only keep a reference to it."""


ALL_CLASSES = [
    ScriptVariable, StringVar, TextVar, IntegerVar, BooleanVar, ChoiceVar, MultiChoiceVar,
    ObjectVar, MultiObjectVar, FileVar, IPAddressVar, IPAddressWithMaskVar, IPNetworkVar,
]


def test_all_lists_every_variable_class() -> None:
    listed = {getattr(variables_module, name) for name in variables_module.__all__}
    assert set(ALL_CLASSES) <= listed


def test_common_options_have_reference_defaults() -> None:
    variable = StringVar()
    assert (variable.label, variable.description, variable.default, variable.required, variable.widget) == (
        "", "", None, True, None
    )


def test_common_options_are_recorded() -> None:
    variable = IntegerVar(label="Count", description="How many", default=0, required=False, widget="slider")
    assert (variable.label, variable.description, variable.default, variable.required, variable.widget) == (
        "Count", "How many", 0, False, "slider"
    )


def test_falsy_default_is_kept() -> None:
    assert IntegerVar(default=0).default == 0


def test_string_options_are_recorded() -> None:
    assert StringVar(min_length=0, max_length=3, regex="^a").options == {
        "min_length": 0, "max_length": 3, "regex": "^a"
    }


def test_string_regex_that_does_not_compile_is_refused_at_declaration() -> None:
    with pytest.raises(ValueError, match="not a valid regular expression"):
        StringVar(regex="(unclosed")


def test_text_var_has_no_type_options() -> None:
    assert TextVar().options == {}


def test_integer_options_are_recorded() -> None:
    assert IntegerVar(min_value=0, max_value=10).options == {"min_value": 0, "max_value": 10}


def test_boolean_var_is_never_required() -> None:
    assert BooleanVar(required=True).required is False


def test_choice_var_records_choices_as_pairs() -> None:
    assert ChoiceVar(choices=[["a", "A"], ("b", "B")]).choices == (("a", "A"), ("b", "B"))


def test_choice_var_accepts_any_iterable_of_pairs() -> None:
    assert MultiChoiceVar(choices=iter([(1, "One")])).choices == ((1, "One"),)


@pytest.mark.parametrize("choices", ["abc", [("a",)], [("a", "A", "extra")], ["ab"], 5])
def test_choice_var_refuses_choices_that_are_not_pairs(choices: object) -> None:
    with pytest.raises(TypeError, match="pairs"):
        ChoiceVar(choices=choices)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", [ObjectVar, MultiObjectVar])
def test_object_var_without_model_is_refused(kind: type[ObjectVar]) -> None:
    with pytest.raises(TypeError, match="^ObjectVar must specify a model$"):
        kind()


def test_object_var_options_are_recorded() -> None:
    variable = MultiObjectVar(model=FakeModel, display_field="name", query_params={"a_id": "$a"}, null_option="None")
    assert variable.options == {
        "model": FakeModel, "display_field": "name", "query_params": {"a_id": "$a"}, "null_option": "None"
    }


def test_object_var_option_defaults() -> None:
    assert ObjectVar(model=FakeModel).options == {
        "model": FakeModel, "display_field": "display", "query_params": {}, "null_option": None
    }


def test_ip_network_options_are_recorded() -> None:
    assert IPNetworkVar(min_prefix_length=0, max_prefix_length=32).options == {
        "min_prefix_length": 0, "max_prefix_length": 32
    }


def test_repr_names_the_class_and_set_options() -> None:
    assert repr(StringVar(label="Name", max_length=5)) == "StringVar(label='Name', required=True, max_length=5)"


# -- ordered_variables --------------------------------------------------------------------


class FieldOrderJob:
    var23 = StringVar()
    var2 = StringVar()
    var1 = StringVar()


class NoFieldOrderJob:
    var23 = StringVar()
    var2 = StringVar()


class ParentJob:
    testvar1 = StringVar()


class ChildJob(ParentJob):
    b_testvar2 = StringVar()
    a_testvar3 = StringVar()


def test_field_order_puts_listed_names_first_in_list_order() -> None:
    assert list(ordered_variables(FieldOrderJob, ["var1", "var2", "var23"])) == ["var1", "var2", "var23"]


def test_without_field_order_definition_order_is_kept() -> None:
    assert list(ordered_variables(NoFieldOrderJob, None)) == ["var23", "var2"]


def test_parent_variables_come_before_the_subclass_ones() -> None:
    assert list(ordered_variables(ChildJob, None)) == ["testvar1", "b_testvar2", "a_testvar3"]


def test_unlisted_variables_follow_the_listed_ones_in_definition_order() -> None:
    assert list(ordered_variables(FieldOrderJob, ["var1"])) == ["var1", "var23", "var2"]


def test_field_order_names_that_are_not_variables_are_ignored() -> None:
    assert list(ordered_variables(NoFieldOrderJob, ["nope", "var2"])) == ["var2", "var23"]


def test_empty_field_order_keeps_definition_order() -> None:
    assert list(ordered_variables(NoFieldOrderJob, [])) == ["var23", "var2"]


def test_redefined_variable_keeps_parent_position_with_subclass_definition() -> None:
    replacement = IntegerVar()

    class Redefining(ChildJob):
        extra = StringVar()
        testvar1 = replacement

    found = ordered_variables(Redefining, None)
    assert list(found) == ["testvar1", "b_testvar2", "a_testvar3", "extra"]
    assert found["testvar1"] is replacement


def test_variable_hidden_by_a_plain_attribute_is_removed() -> None:
    class Hiding(ChildJob):
        b_testvar2 = None

    assert list(ordered_variables(Hiding, None)) == ["testvar1", "a_testvar3"]


def test_non_variable_attributes_are_not_variables() -> None:
    class WithOthers:
        name = "x"
        var = StringVar()

        def run(self) -> None: ...

    assert list(ordered_variables(WithOthers, None)) == ["var"]


def test_field_order_is_optional() -> None:
    assert list(ordered_variables(NoFieldOrderJob)) == ["var23", "var2"]
