"""The changes and hooks commands: reading the change log, and every rule a job hook keeps."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import update

from jobruntime.models import ObjectChange
from jobruntime.testing import run_job_for_testing
from tests.cli_support import invoker
from tests.conftest import JOB_MODULES
from tests.job_modules import change_jobs


@pytest.fixture
def cli(runtime, db_url, tmp_path):
    invoke = invoker({"JOBRUNTIME_DATABASE_URL": db_url, "JOBRUNTIME_JOBS_ROOT": str(JOB_MODULES),
                      "JOBRUNTIME_HOME": str(tmp_path), "COLUMNS": "250"})
    invoke("sync", code=None)  # tests/job_modules holds broken modules on purpose
    return invoke


def test_changes_list_shows_the_newest_first_and_filters(cli, runtime):
    created = run_job_for_testing(change_jobs.CreateDevices, runtime=runtime)
    rows = json.loads(cli("changes", "list", "--object-type", "dcim.device", "--json").output)
    assert [row["object_repr"] for row in rows] == ["sw2", "sw1", "sw0"]
    assert {row["request_id"] for row in rows} == {str(created.id)}
    assert len(json.loads(cli("changes", "list", "--limit", "2", "--json").output)) == 2
    renamed = run_job_for_testing(change_jobs.RenameDevice, runtime=runtime)
    rows = json.loads(cli("changes", "list", "--request-id", str(renamed.id), "--action", "update", "--json").output)
    assert [row["object_repr"] for row in rows] == ["core0"]
    by_object = json.loads(cli("changes", "list", "--object-id", rows[0]["changed_object_id"], "--json").output)
    assert [row["action"] for row in by_object] == ["update", "create"]
    assert "core0" in cli("changes", "list").output


def test_changes_show_gives_the_difference_to_the_previous_snapshot(cli, runtime):
    run_job_for_testing(change_jobs.CreateDevices, runtime=runtime)
    renamed = run_job_for_testing(change_jobs.RenameDevice, runtime=runtime)
    [row] = json.loads(cli("changes", "list", "--request-id", str(renamed.id), "--json").output)
    shown = json.loads(cli("changes", "show", row["id"], "--json").output)
    assert shown["snapshots"]["differences"] == {"added": {"name": "core0", "serial": "ABC"},
                                                 "removed": {"name": "sw0", "serial": ""}}
    assert shown["snapshots"]["prechange"]["name"] == "sw0"
    text = cli("changes", "show", row["id"]).output
    assert 'added:\n  name: "core0"\n  serial: "ABC"\nremoved:\n  name: "sw0"' in text


def test_changes_show_refuses_an_unknown_id(cli):
    assert "is not a change id" in cli("changes", "show", "nope", code=4).output
    assert "No change" in cli("changes", "show", "00000000-0000-0000-0000-000000000000", code=4).output


def test_changes_prune_deletes_only_old_records(cli, runtime):
    run_job_for_testing(change_jobs.CreateDevices, runtime=runtime)
    with runtime.engine.begin() as connection:
        connection.execute(update(ObjectChange).where(ObjectChange.object_repr == "sw0")
                           .values(time=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=100)))
    assert "Deleted 1 change records older than 90d" in cli("changes", "prune", "--older-than", "90d").output
    assert "sw0" not in cli("changes", "list").output
    assert "is not an age" in cli("changes", "prune", "--older-than", "soon", code=4).output


RECEIVER = "local/change_jobs/LogReceiver"


def test_a_hook_is_created_listed_shown_switched_and_deleted(cli):
    cli("hooks", "create", "log devices", "--job", RECEIVER, "--content-types", "dcim.device,dcim.interface",
        "--on", "create,delete")
    [row] = json.loads(cli("hooks", "list", "--json").output)
    assert row == {"name": "log devices", "slug": "log-devices", "job": RECEIVER,
                   "content_types": ["dcim.device", "dcim.interface"], "actions": ["create", "delete"],
                   "enabled": True}
    cli("hooks", "disable", "log devices")
    assert json.loads(cli("hooks", "show", "log devices").output)["enabled"] is False
    cli("hooks", "enable", "log devices")
    assert "log devices" in cli("hooks", "list").output
    cli("hooks", "delete", "log devices")
    assert json.loads(cli("hooks", "list", "--json").output) == []
    assert 'No job hook "log devices"' in cli("hooks", "show", "log devices", code=4).output


@pytest.mark.parametrize(("args", "message"), [
    (("--job", RECEIVER, "--content-types", "dcim.device", "--on", ""),
     "You must select at least one type: create, update, and/or delete."),
    (("--job", RECEIVER, "--content-types", "dcim.device", "--on", "create,rename"),
     "Unknown action rename; choose from create, update, delete"),
    (("--job", "local/change_jobs/CreateDevices", "--content-types", "dcim.device", "--on", "create"),
     "Job local/change_jobs/CreateDevices is not a job hook receiver"),
    (("--job", RECEIVER, "--content-types", "users.user", "--on", "create"),
     '"users.user" is not a change-logged model; choose from: dcim.cable'),
    (("--job", RECEIVER, "--content-types", "dcim.nothing", "--on", "create"),
     '"dcim.nothing" is not a change-logged model'),
    (("--job", RECEIVER, "--content-types", "", "--on", "create"),
     "Choose at least one content type, e.g. dcim.device"),
    (("--job", "local/change_jobs/Nope", "--content-types", "dcim.device", "--on", "create"),
     'Job "local/change_jobs/Nope" not found'),
])
def test_a_hook_that_breaks_a_rule_is_refused_saying_why(cli, args, message):
    assert message in cli("hooks", "create", "bad", *args, code=4).output
    assert json.loads(cli("hooks", "list", "--json").output) == []


def test_two_hooks_may_not_share_job_content_type_and_action(cli):
    cli("hooks", "create", "first", "--job", RECEIVER, "--content-types", "dcim.devicetype,dcim.site",
        "--on", "create,delete")
    refused = cli("hooks", "create", "second", "--job", RECEIVER, "--content-types", "dcim.devicetype",
                  "--on", "update,delete", code=4)
    assert "A job hook already exists for delete on dcim | device type to job Log the change" in refused.output
    cli("hooks", "create", "disjoint actions", "--job", RECEIVER, "--content-types", "dcim.devicetype",
        "--on", "update")
    cli("hooks", "create", "other type", "--job", RECEIVER, "--content-types", "dcim.device", "--on", "create")
    cli("hooks", "create", "other job", "--job", "local/change_jobs/EditingReceiver",
        "--content-types", "dcim.site", "--on", "create")
    assert 'JobHook: name "first" already exists' in cli(
        "hooks", "create", "first", "--job", "local/change_jobs/EditingReceiver", "--content-types", "dcim.region",
        "--on", "create", code=4).output


def test_jobs_list_hides_receivers_unless_all(cli):
    listed = {row["class_path"] for row in json.loads(cli("jobs", "list", "--json").output)}
    assert RECEIVER not in listed and "local/change_jobs/CreateDevices" in listed
    everything = json.loads(cli("jobs", "list", "--all", "--json").output)
    receiver = next(row for row in everything if row["class_path"] == RECEIVER)
    assert receiver["is_job_hook_receiver"] is True
