"""The Job class API: Meta resolution, class_path, grouping, test order. No database needed."""

from __future__ import annotations

from jobruntime import Job, StringVar
from jobruntime.authoring.job import declared_test_methods
from tests.job_modules import basic


def test_meta_defaults_match_the_reference():
    class Bare(Job):
        pass

    meta = Bare.meta()
    assert meta.name == "Bare"
    assert meta.description == ""
    assert meta.commit_default is True
    assert meta.has_sensitive_variables is True
    assert (meta.read_only, meta.hidden, meta.approval_required) == (False, False, False)
    assert (meta.soft_time_limit, meta.time_limit) == (0.0, 0.0)
    assert meta.task_queues == ()
    assert meta.field_order is None


def test_class_attribute_description_shadows_meta():
    assert basic.PassingJob.meta().description == "Validate job import"


def test_description_is_dedented_and_first_line_is_the_summary():
    class Described(Job):
        class Meta:
            description = """
                First line.

                More detail here.
            """

    assert Described.meta().description == "First line.\n\nMore detail here."
    assert Described.meta().summary == "First line."


def test_meta_is_inherited_from_a_parent_job():
    class Parent(Job):
        class Meta:
            read_only = True
            task_queues = ["net"]

    class Child(Parent):
        pass

    assert Child.meta().read_only is True
    assert Child.meta().task_queues == ("net",)


def test_a_variable_named_like_a_meta_field_does_not_shadow_it():
    class WithDescriptionVar(Job):
        description = StringVar()

        class Meta:
            description = "Real description"

    assert WithDescriptionVar.meta().description == "Real description"


def test_grouping_comes_from_the_module_level_name():
    assert basic.PassingJob.job_grouping() == "Basic Jobs"


def test_test_methods_are_in_declaration_order_with_inherited_after():
    assert declared_test_methods(basic.InheritedTests) == ["test_mine", "test_zulu", "test_alpha"]


def test_log_with_a_string_object_uses_it_as_the_message():
    class Recorder(Job):
        pass

    seen = []

    class FakeRunLog:
        def add(self, level, grouping, message, obj=None):
            seen.append((level, grouping, message, obj))

    job = Recorder()
    job._run_log = FakeRunLog()
    job.active_test = "run"
    job.log_warning("text only")
    job.log_success(obj=None)
    job.log_failure(obj="thing", message="broken")
    assert seen == [
        ("warning", "run", "text only", None),
        ("success", "run", "None", None),
        ("failure", "run", "broken", "thing"),
    ]
    assert job.failed is True


def test_package_exports_job_variables_and_soft_time_limit():
    import jobruntime

    for name in ("Job", "SoftTimeLimitExceeded", "StringVar", "IntegerVar", "ObjectVar", "MultiObjectVar",
                 "FileVar", "IPAddressVar", "IPAddressWithMaskVar", "IPNetworkVar", "BooleanVar", "ChoiceVar",
                 "MultiChoiceVar", "TextVar"):
        assert getattr(jobruntime, name).__name__ == name
