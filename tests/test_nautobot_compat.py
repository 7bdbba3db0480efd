"""Nautobot 1.x job files (tests/nautobot_jobs, written as Nautobot users write them) run with no edit."""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from jobruntime import Job
from jobruntime.authoring.compat.django_settings import bind
from jobruntime.authoring.compat.finder import NautobotNamesFinder, is_alias, nautobot_names
from jobruntime.authoring.discovery import discover, load_job_class, load_local_module
from jobruntime.core.sanitize import Sanitizer
from jobruntime.core.settings import Settings
from jobruntime.models import DeviceRole, Interface, Site, Status, Tenant, ValidationError
from jobruntime.run.runtime import Runtime
from jobruntime.testing import run_job_for_testing

NAUTOBOT_JOBS = Path(__file__).parent / "nautobot_jobs"
PLUGINS_CONFIG = {"inventory_sync": {"timeout": 30}}


@pytest.fixture
def bound_settings(tmp_path: Path) -> None:
    """What a Runtime does when it is built: django.conf.settings answers from these settings."""
    bind(Settings(jobs_root=NAUTOBOT_JOBS, home=tmp_path, default_queue="net", plugins_config=PLUGINS_CONFIG))


@pytest.fixture
def nautobot_runtime(engine: sa.Engine, tmp_path: Path) -> Runtime:
    """A Runtime whose JOBS_ROOT is the folder of Nautobot-style job files."""
    settings = Settings(
        database_url=engine.url.render_as_string(hide_password=False), jobs_root=NAUTOBOT_JOBS, home=tmp_path,
        default_queue="net", plugins_config=PLUGINS_CONFIG,
    )
    return Runtime(settings=settings, engine=engine, sanitizer=Sanitizer(settings.sanitizer_patterns))


def run(runtime: Runtime, class_path: str, data: dict | None = None, commit: bool = True):
    return run_job_for_testing(load_job_class(class_path, NAUTOBOT_JOBS), data=data, commit=commit, runtime=runtime)


def messages(result) -> list[str]:
    return [entry.message for entry in result.logs]


def test_nautobot_job_files_are_discovered_without_edit(bound_settings):
    found = discover(NAUTOBOT_JOBS)
    assert {"local/site_inventory/CreateSite", "local/site_inventory/SiteReport", "local/legacy_script/Addressing",
            "local/receivers/RenameButton", "local/receivers/ChangeLogger",
            "local/settings_reader/ReadSettings"} <= set(found.jobs)
    assert found.jobs["local/site_inventory/CreateSite"].job_grouping() == "Nautobot-style jobs"


def test_a_job_importing_a_name_we_lack_fails_to_load_naming_it_and_the_check_command(bound_settings):
    found = discover(NAUTOBOT_JOBS)
    error = found.errors["local/missing_names"]
    assert "ImportError" in error
    assert "get_task_logger" in error
    assert "jobruntime jobs check" in error


def test_nautobot_job_creates_inventory_with_models_choices_and_helpers(nautobot_runtime: Runtime, session):
    with nautobot_runtime.session() as db:
        db.add(Tenant(name="Acme Corp", slug="acme-corp"))
        db.commit()
        tenant_id = str(db.scalar(sa.select(Tenant.id)))
    result = run(nautobot_runtime, "local/site_inventory/CreateSite",
                 {"site_name": "Branch 7", "tenant": tenant_id, "uplinks": 3})
    assert result.status == "completed", messages(result)
    assert messages(result) == ["Created new site", "dcim | site created, queue net"]
    assert result.data["output"] == "\nbranch-7-sw1: 3 uplinks"
    site = Site.objects.get(name="Branch 7")
    assert (site.slug, site.tenant.name) == ("branch-7", "Acme Corp")
    uplinks = Interface.objects.filter(device__site=site)
    assert sorted(uplinks.values_list("type", "mode", "status__slug")) == [("10gbase-x-sfpp", "tagged", "active")] * 3


def test_multi_object_var_reaches_run_as_a_queryset(nautobot_runtime: Runtime, session):
    active = Status.objects.get(slug="active")
    sites = [Site(name=name, status=active) for name in ("site10", "site2", "site1")]
    for site in sites:
        site.validated_save()
    session.commit()
    result = run(nautobot_runtime, "local/site_inventory/SiteReport",
                 {"sites": [str(site.pk) for site in sites], "verbose": True})
    assert result.status == "completed", messages(result)
    assert messages(result) == [
        "3 sites: site1, site2, site10",
        "no tenant", "no tenant", "no tenant",
        "no-such-device is absent",
        "refused: Site: name is required",
        "levels: default,success,info,warning,failure; verbose True",
    ]
    assert result.data["output"] == "\n['site1', 'site2', 'site10']"


def test_legacy_script_runs_as_a_job(nautobot_runtime: Runtime):
    job_class = load_job_class("local/legacy_script/Addressing", NAUTOBOT_JOBS)
    assert job_class.meta().commit_default is False
    result = run(nautobot_runtime, "local/legacy_script/Addressing", {"network": "10.0.0.0/24", "new_length": "26"})
    assert result.status == "completed", messages(result)
    assert messages(result)[:2] == ["plan: 4 subnets", "a script is a BaseScript: True"]
    assert result.data["output"] == "\n10.0.0.0/26\n10.0.0.64/26"


def test_job_button_receiver_gets_the_object_the_button_was_pressed_on(nautobot_runtime: Runtime, session):
    site = Site(name="HQ", status=Status.objects.get(slug="active"))
    site.validated_save()
    session.commit()
    result = run(nautobot_runtime, "local/receivers/RenameButton",
                 {"object_pk": str(site.pk), "object_model_name": "dcim.site"})
    assert result.status == "completed", messages(result)
    assert messages(result) == ["Marked as visited"]
    session.expire_all()
    assert Site.objects.get(name="HQ").description == "visited"


def test_job_hook_receiver_hands_the_change_to_receive_job_hook():
    receiver = load_job_class("local/receivers/ChangeLogger", NAUTOBOT_JOBS)()
    change = SimpleNamespace(action="update", changed_object="HQ")
    assert receiver.run({"object_change": change}, commit=True) == "update"
    assert receiver.is_job_hook_receiver is True


def test_settings_contenttypes_and_the_live_job_result(nautobot_runtime: Runtime, tmp_path: Path):
    result = run(nautobot_runtime, "local/settings_reader/ReadSettings")
    assert result.status == "completed", messages(result)
    assert messages(result) == [
        "queue=net tz=UTC",
        f"jobs_root={NAUTOBOT_JOBS.resolve()} media_root={tmp_path.resolve() / 'media'}",
        "config={'timeout': 30, 'retries': 1}",
        "dcim | device -> Device",
        "running=True live=True uuid=True",
    ]
    assert result.data == {"output": "\nTrue", "checked": True}


def test_the_hook_is_active_only_while_a_job_module_is_imported():
    load_local_module(NAUTOBOT_JOBS, "site_inventory")
    assert not any(isinstance(finder, NautobotNamesFinder) for finder in sys.meta_path)
    sys.modules.pop("nautobot.extras.scripts", None)
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("nautobot.extras.scripts")
    with nautobot_names():
        assert importlib.import_module("nautobot.extras.scripts").Script is Job


def test_a_nautobot_module_we_lack_is_reported_with_the_check_command():
    with pytest.raises(ModuleNotFoundError, match="nautobot.circuits.*jobruntime jobs check") as caught:
        with nautobot_names():
            importlib.import_module("nautobot.circuits.models")
    assert caught.value.name == "nautobot.circuits"


@pytest.fixture
def real_nautobot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A stand-in for an installed Nautobot: a real ``nautobot`` package on sys.path."""
    package = tmp_path / "site-packages" / "nautobot"
    (package / "extras").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "extras" / "__init__.py").write_text("")
    (package / "extras" / "jobs.py").write_text("WHICH = 'the real Nautobot'\n")
    monkeypatch.syspath_prepend(str(package.parent))
    yield
    for name in [name for name in sys.modules if name == "nautobot" or name.startswith("nautobot.")]:
        del sys.modules[name]


def test_the_hook_stands_aside_when_nautobot_is_really_installed(real_nautobot, tmp_path: Path):
    jobs_root = tmp_path / "jobs"
    jobs_root.mkdir()
    (jobs_root / "__init__.py").write_text("")
    (jobs_root / "uses_real.py").write_text(textwrap.dedent("""
        from nautobot.extras.jobs import WHICH
        from django.core.exceptions import ObjectDoesNotExist
    """))
    module = load_local_module(jobs_root, "uses_real")
    assert module.WHICH == "the real Nautobot"
    assert not is_alias(sys.modules["nautobot"])
    assert is_alias(sys.modules["django"])  # Django is not installed here, so it is still answered
    with nautobot_names() as answered:
        assert answered == ("django",)


def test_jobs_check_reports_every_name_we_lack_with_its_line(tmp_path: Path):
    from click.testing import CliRunner

    from jobruntime.cli import main

    job_file = tmp_path / "circuits_job.py"
    job_file.write_text(textwrap.dedent("""\
        from django.conf import settings
        from nautobot.circuits.models import Circuit
        from nautobot.extras.jobs import Job, StringVar, get_task_logger
        import nautobot.dcim.models as dcim
        from nautobot.extras import models as extras

        class Audit(Job):
            def run(self, data, commit):
                dcim.Site.objects.count()
                dcim.RackGroup.objects.count()
                extras.GitRepository.objects.all()
                return settings.BASE_PATH, settings.JOBS_ROOT
    """))
    result = CliRunner().invoke(main, ["jobs", "check", str(job_file)])
    assert result.exit_code == 1, result.output
    assert result.output.splitlines() == [
        f"{job_file}:2: nautobot.circuits.models.Circuit is not provided by jobruntime",
        f"{job_file}:3: nautobot.extras.jobs.get_task_logger is not provided by jobruntime",
        f"{job_file}:10: nautobot.dcim.models.RackGroup is not provided by jobruntime",
        f"{job_file}:11: nautobot.extras.models.GitRepository is not provided by jobruntime",
        f"{job_file}:12: django.conf.settings.BASE_PATH is not provided by jobruntime",
    ]


def test_jobs_check_passes_a_file_that_uses_only_provided_names():
    from click.testing import CliRunner

    from jobruntime.cli import main

    result = CliRunner().invoke(main, ["jobs", "check", str(NAUTOBOT_JOBS / "site_inventory.py")])
    assert result.exit_code == 0, result.output
    assert "every Nautobot and Django name it uses is provided" in result.output


def test_jobs_check_refuses_a_file_that_is_not_python(tmp_path: Path):
    from click.testing import CliRunner

    from jobruntime.cli import main

    job_file = tmp_path / "broken.py"
    job_file.write_text("from nautobot.extras.jobs import (\n")
    result = CliRunner().invoke(main, ["jobs", "check", str(job_file)])
    assert result.exit_code == 4
    assert f"{job_file}:1: not valid Python" in result.output


def test_nautobot_job_uses_custom_fields_and_tags(nautobot_runtime: Runtime, session):
    active = Status.objects.get(slug="active")
    for name, code in (("Paris", "EU"), ("Berlin", "EU"), ("Austin", "US"), ("Lyon", "eu")):
        Site.objects.create(name=name, status=active, _custom_field_data={"region_code": code})
    session.commit()
    result = run(nautobot_runtime, "local/tagging/TagByRegion", {"region_code": "EU"})
    assert result.status == "completed", messages(result)
    assert messages(result) == [
        "tagged region-eu",
        "tagged region-eu",
        "Invalid value for custom field 'region_code': Value must match regex '^[A-Z]{2}$'",
    ]
    assert result.data["output"] == "\n2"
    session.expire_all()
    assert sorted(Site.objects.filter(tags__slug="region-eu").values_list("name", flat=True)) == ["Berlin", "Paris"]


def object_vars_job():
    return load_job_class("local/object_vars/ObjectVarsJob", NAUTOBOT_JOBS)


def test_validate_data_refuses_data_that_is_not_a_dict_in_nautobots_words(session):
    with pytest.raises(ValidationError) as caught:
        object_vars_job().validate_data(["role"])
    assert caught.value.messages == ["Job data needs to be a dict"]


def test_validate_data_names_an_unknown_property_and_a_missing_required_object_var(session):
    with pytest.raises(ValidationError) as caught:
        object_vars_job().validate_data({"colour": "red"})
    assert caught.value.message_dict == {"colour": ["Job data contained an unknown property"]}
    with pytest.raises(ValidationError) as caught:
        object_vars_job().validate_data({})
    assert caught.value.message_dict == {"role": ["This field is required."]}


def test_deserialize_data_follows_nautobots_contract(session):
    role = DeviceRole.objects.create(name="Leaf")
    site = Site.objects.create(name="HQ", status=Status.objects.get(slug="active"))
    job = object_vars_job()
    with pytest.raises(TypeError, match=r"^Data should be a dictionary\.$"):
        job.deserialize_data("role")
    with pytest.raises(ValidationError, match="^role is a required field$"):
        job.deserialize_data({"role": None})
    missing = str(uuid.uuid4())
    with pytest.raises(Site.DoesNotExist, match=rf"^Failed to find requested objects for var sites: \[{missing}\]$"):
        job.deserialize_data({"sites": [str(site.pk), missing]})
    data = job.deserialize_data({"role": {"name": "Leaf"}, "sites": [str(site.pk)], "address": "10.0.0.1/24",
                                 "ignored": 1})
    assert data["role"] == role and list(data["sites"]) == [site] and str(data["address"]) == "10.0.0.1/24"
    assert "ignored" not in data
    assert job.serialize_data(data) == {"role": role.pk, "sites": [site.pk], "address": "10.0.0.1/24"}


def test_objects_created_unvalidated_get_custom_field_defaults_and_may_lack_a_status(nautobot_runtime, session):
    result = run(nautobot_runtime, "local/custom_field_defaults/SitesWithDefaults")
    assert result.status == "completed", messages(result)
    assert messages(result) == ["custom field ready", "facilities / netops"]
    session.expire_all()
    assert Site.objects.get(slug="depot-one").cf == {"owner": "facilities"}
    second = Site.objects.get(slug="depot-two")
    assert (second.cf, second.status) == ({"owner": "netops"}, None)
    with pytest.raises(ValidationError, match="Site: status is required"):
        second.validated_save()


def test_a_required_object_var_given_null_ends_errored_naming_it(nautobot_runtime: Runtime):
    result = run(nautobot_runtime, "local/object_vars/ObjectVarsJob", {"role": None})
    assert result.status == "errored"
    (failure,) = [entry for entry in result.logs if entry.log_level == "failure"]
    assert failure.grouping == "initialization"
    assert failure.message == "Error initializing job:\n```\nrole: role is a required field\n```"


def test_utility_helpers_and_choice_sets_answer_as_nautobots():
    from jobruntime.authoring.compat.dcim_choices import InterfaceTypeChoices
    from jobruntime.authoring.compat.helpers import array_to_string, deepmerge, flatten_dict, is_truthy

    assert deepmerge({"a": {"b": 1, "c": 2}, "d": 1}, {"a": {"c": 3}}) == {"a": {"b": 1, "c": 3}, "d": 1}
    assert flatten_dict({"a": {"b": 1}, "c": 2}) == {"a__b": 1, "c": 2}
    assert array_to_string([10, 1, 2, 3, 5]) == "1-3, 5, 10"
    assert [is_truthy(value) for value in ("Yes", "off", True, 1)] == [True, False, True, True]
    with pytest.raises(ValueError, match="invalid truth value"):
        is_truthy("maybe")
    assert "10gbase-x-sfpp" in InterfaceTypeChoices.values()
    assert InterfaceTypeChoices.as_dict()["lag"] == "Link Aggregation Group (LAG)"


def test_django_text_offers_slugify_and_nothing_we_do_not_mean(tmp_path: Path):
    job_file = tmp_path / "slugs.py"
    job_file.write_text("from django.utils.text import slugify, deepmerge\n")
    from jobruntime.authoring.compat.check import check_file

    assert [(item.line, item.name) for item in check_file(job_file)] == [(1, "django.utils.text.deepmerge")]


def test_a_run_given_data_that_is_not_a_dict_says_so_in_nautobots_words(nautobot_runtime: Runtime):
    result = run(nautobot_runtime, "local/object_vars/ObjectVarsJob", "BAD DATA STRING")
    assert result.status == "errored"
    (failure,) = [entry for entry in result.logs if entry.log_level == "failure"]
    assert failure.grouping == "initialization"
    assert "Data should be a dictionary" in failure.message


def test_a_plugin_package_written_for_nautobot_is_found_and_runs(nautobot_runtime: Runtime):
    found = discover(NAUTOBOT_JOBS, ("tests.nautobot_plugin.jobs",))
    job_class = found.jobs["plugins/tests.nautobot_plugin.jobs/Greeting"]
    result = run_job_for_testing(job_class, data={"who": "ops"}, runtime=nautobot_runtime)
    assert result.status == "completed"
    assert result.data["output"] == "\nhello ops"
