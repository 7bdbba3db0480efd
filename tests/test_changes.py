"""The change log: what a committed run records, and what a dry or raising run does not."""

from __future__ import annotations

from sqlalchemy import select

from jobruntime.models import ObjectChange
from jobruntime.testing import run_job_for_testing
from tests.job_modules import change_jobs


def changes(runtime) -> list[ObjectChange]:
    with runtime.session() as session:
        return list(session.scalars(select(ObjectChange).order_by(ObjectChange.time)))


def device_changes(runtime) -> list[ObjectChange]:
    return [change for change in changes(runtime) if change.changed_object_type == "dcim.device"]


def test_a_committed_run_records_each_create_with_its_context_and_snapshot(runtime):
    result = run_job_for_testing(change_jobs.CreateDevices, runtime=runtime)
    assert result.status == "completed"
    created = device_changes(runtime)
    assert [change.object_repr for change in created] == ["sw0", "sw1", "sw2"]
    first = created[0]
    assert (first.action, first.user_name, first.request_id) == ("create", "test-user", result.id)
    assert (first.change_context, first.change_context_detail) == ("job", "local/change_jobs/CreateDevices")
    assert first.user_id == result.user_id
    assert first.object_data["name"] == "sw0"
    assert first.object_data["site"] == str(first.object_data["site"]) and first.object_data["serial"] == ""
    assert str(first) == "dcim | device sw0 created by test-user"
    assert {change.changed_object_type for change in changes(runtime)} >= {"dcim.site", "dcim.manufacturer"}


def test_a_dry_run_records_nothing(runtime):
    result = run_job_for_testing(change_jobs.CreateDevices, commit=False, runtime=runtime)
    assert result.status == "completed"
    assert changes(runtime) == []


def test_a_run_that_raises_records_nothing(runtime):
    result = run_job_for_testing(change_jobs.CreateThenRaise, runtime=runtime)
    assert result.status == "errored"
    assert changes(runtime) == []


def test_an_update_records_the_new_snapshot(runtime):
    run_job_for_testing(change_jobs.CreateDevices, runtime=runtime)
    run_job_for_testing(change_jobs.RenameDevice, runtime=runtime)
    update = device_changes(runtime)[-1]
    assert (update.action, update.object_repr) == ("update", "core0")
    assert update.object_data["name"] == "core0" and update.object_data["serial"] == "ABC"


def test_a_delete_records_every_object_the_database_cascades(runtime):
    run_job_for_testing(change_jobs.CreateDevices, runtime=runtime)
    result = run_job_for_testing(change_jobs.DeleteDeviceWithInterface, runtime=runtime)
    assert result.status == "completed", result.reason
    deletes = [(c.changed_object_type, c.object_repr) for c in changes(runtime) if c.action == "delete"]
    assert deletes == [("dcim.device", "sw9"), ("dcim.interface", "eth0"), ("ipam.ipaddress", "10.0.0.1/24")]
    interface_delete = next(c for c in changes(runtime) if c.action == "delete" and c.changed_object_type == "dcim.interface")
    assert interface_delete.related_object_type == "dcim.device"
    assert interface_delete.object_data["name"] == "eth0"


def test_changes_made_in_post_run_are_recorded_when_the_run_commits(runtime):
    run_job_for_testing(change_jobs.CreateDevices, runtime=runtime)
    dry = run_job_for_testing(change_jobs.RenameInPostRun, commit=False, runtime=runtime)
    assert dry.status == "completed" and len(device_changes(runtime)) == 3
    result = run_job_for_testing(change_jobs.RenameInPostRun, runtime=runtime)
    assert result.status == "completed"
    assert [(c.action, c.object_repr, c.request_id) for c in device_changes(runtime)][-1] == (
        "update", "late1", result.id)
