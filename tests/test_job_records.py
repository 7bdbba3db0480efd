"""Discovery and `sync`: records created disabled, refreshed, uninstalled; overrides survive."""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from jobruntime.authoring import discovery
from jobruntime.authoring.discovery import InvalidClassPath, JobNotFound, discover, load_job_class, split_class_path
from jobruntime.authoring.records import JobRecordError, set_override, sync
from jobruntime.models import Job as JobRecord

JOB_MODULES = Path(__file__).parent / "job_modules"


def record(session, class_path):
    source, module, cls = class_path.split("/")
    return session.scalars(
        select(JobRecord).where(JobRecord.module_name == module, JobRecord.job_class_name == cls)
    ).one()


def test_discovery_finds_only_classes_defined_in_each_module():
    found = discover(JOB_MODULES)
    assert "local/basic/PassingJob" in found.jobs
    assert "local/variables_job/EveryVariable" in found.jobs
    assert not any(path.endswith("/Job") for path in found.jobs)
    assert "local/broken" in found.errors and "ModuleNotFoundError" in found.errors["local/broken"]


def test_sync_creates_disabled_records_with_class_values(session):
    report = sync(session, discover(JOB_MODULES))
    assert "local/basic/PassingJob" in report.created
    passing = record(session, "local/basic/PassingJob")
    assert passing.enabled is False and passing.installed is True
    assert passing.grouping == "Basic Jobs"
    assert passing.name == "Passing job"
    assert passing.description == "Validate job import"
    assert passing.slug == "local-basic-passingjob"
    assert passing.has_sensitive_variables is False


def test_duplicate_grouping_and_name_is_reported_and_others_still_refresh(session):
    report = sync(session, discover(JOB_MODULES))
    assert "local/duplicate_names/SameName" in report.errors
    assert "same grouping and name" in report.errors["local/duplicate_names/SameName"]
    assert "local/basic/FailingJob" in report.created


def test_overrides_survive_a_refresh_and_enabled_is_kept(session):
    sync(session, discover(JOB_MODULES))
    passing = record(session, "local/basic/PassingJob")
    passing.enabled = True
    set_override(session, passing, "name", "Renamed by admin")
    set_override(session, passing, "soft_time_limit", "30")
    session.flush()
    report = sync(session, discover(JOB_MODULES))
    assert "local/basic/PassingJob" in report.refreshed
    passing = record(session, "local/basic/PassingJob")
    assert (passing.name, passing.name_override) == ("Renamed by admin", True)
    assert passing.soft_time_limit == 30.0
    assert passing.enabled is True


def test_clearing_an_override_restores_the_code_value(session):
    sync(session, discover(JOB_MODULES))
    failing = record(session, "local/basic/FailingJob")
    set_override(session, failing, "read_only", "true")
    set_override(session, failing, "read_only", None, load_job_class("local/basic/FailingJob", JOB_MODULES))
    assert (failing.read_only, failing.read_only_override) == (False, False)


def test_sensitive_job_cannot_require_approval(session):
    sync(session, discover(JOB_MODULES))
    failing = record(session, "local/basic/FailingJob")
    with pytest.raises(JobRecordError, match="sensitive variables cannot be marked as requiring approval"):
        set_override(session, failing, "approval_required", "true")


def test_unknown_override_field_is_refused(session):
    sync(session, discover(JOB_MODULES))
    with pytest.raises(JobRecordError, match="cannot be overridden"):
        set_override(session, record(session, "local/basic/FailingJob"), "field_order", "[]")


def test_removed_job_becomes_uninstalled(session, tmp_path):
    (tmp_path / "__init__.py").write_text("")
    module = tmp_path / "gone.py"
    module.write_text("from jobruntime import Job\n\nclass Vanishing(Job):\n    pass\n")
    sync(session, discover(tmp_path))
    module.unlink()
    report = sync(session, discover(tmp_path))
    assert report.uninstalled == ["local/gone/Vanishing"]
    assert record(session, "local/gone/Vanishing").installed is False


def test_jobs_root_without_init_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="__init__.py"):
        discover(tmp_path)


def test_class_path_errors_are_specific():
    with pytest.raises(InvalidClassPath, match="class path form"):
        split_class_path("NoSlashes")
    with pytest.raises(JobNotFound, match='Job "local/basic/Missing" not found'):
        load_job_class("local/basic/Missing", JOB_MODULES)


def test_a_settled_job_file_is_not_read_again_until_its_stamp_changes(tmp_path, monkeypatch):
    (tmp_path / "__init__.py").write_text("")
    module = tmp_path / "stamped.py"
    module.write_text("from jobruntime import Job\n\nclass Stamped(Job):\n    version = 1\n")
    old = time.time_ns() - 10 * discovery.SETTLED_NS
    os.utime(module, ns=(old, old))
    first = load_job_class("local/stamped/Stamped", tmp_path)
    reads = []
    monkeypatch.setattr(discovery, "open", lambda *args: reads.append(args) or io.BytesIO(b""), raising=False)
    assert load_job_class("local/stamped/Stamped", tmp_path) is first and reads == []  # one stat, no read
    monkeypatch.undo()

    os.utime(module, ns=(old + 1, old + 1))  # touched, same bytes: read again, same module
    assert load_job_class("local/stamped/Stamped", tmp_path) is first


def test_a_fresh_same_size_edit_within_one_clock_tick_is_still_picked_up(tmp_path):
    (tmp_path / "__init__.py").write_text("")
    module = tmp_path / "quick.py"
    module.write_text("from jobruntime import Job\n\nclass Quick(Job):\n    version = 1\n")
    first = load_job_class("local/quick/Quick", tmp_path)
    stamp = module.stat().st_mtime_ns
    module.write_text("from jobruntime import Job\n\nclass Quick(Job):\n    version = 2\n")
    os.utime(module, ns=(stamp, stamp))  # as if both writes fell in the same tick
    edited = load_job_class("local/quick/Quick", tmp_path)
    assert edited is not first and edited.version == 2


def test_plugin_modules_provide_jobs_under_the_plugins_source(session):
    found = discover(JOB_MODULES, ("tests.plugin_pkg.jobs",))
    assert "plugins/tests.plugin_pkg.jobs/PluginJob" in found.jobs
    sync(session, found)
    plugin = record(session, "plugins/tests.plugin_pkg.jobs/PluginJob")
    assert (plugin.source, plugin.grouping, plugin.slug) == ("plugins", "Plugin jobs", "plugins-tests-plugin_pkg-jobs-pluginjob")
    assert load_job_class("plugins/tests.plugin_pkg.jobs/PluginJob", JOB_MODULES).__name__ == "PluginJob"


def test_an_unchanged_job_module_is_not_executed_again_and_an_edited_one_is(tmp_path):
    (tmp_path / "__init__.py").write_text("")
    module = tmp_path / "counted.py"
    module.write_text("from jobruntime import Job\n\nimports = []\nimports.append(1)\n\nclass Counted(Job):\n    pass\n")
    first = load_job_class("local/counted/Counted", tmp_path)
    second = load_job_class("local/counted/Counted", tmp_path)
    assert second is first
    assert sys.modules[first.__module__].imports == [1]

    module.write_text("from jobruntime import Job\n\nclass Counted(Job):\n    version = 2\n")
    edited = load_job_class("local/counted/Counted", tmp_path)
    assert edited is not first and edited.version == 2

    module.unlink()
    with pytest.raises(JobNotFound, match="No job module 'counted'"):
        load_job_class("local/counted/Counted", tmp_path)
