"""The command line, end to end: migrate, sync, users, jobs, runjob --local, results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.cli_support import database_env, invoker

BRANCH = {"site_name": "Branch 7", "switch_count": 2, "switch_model": {"model": "Catalyst 9300-48P"}}


@pytest.fixture
def cli(engine, db_url, tmp_path):
    invoke = invoker(database_env(db_url, tmp_path))
    invoke("migrate")
    invoke("sync")
    invoke("users", "create", "admin", "--superuser")
    invoke("demo")
    return invoke


def test_sync_lists_what_it_created(cli):
    result = cli("sync")
    assert "Refreshed Job record local/new_branch/NewBranch" in result.output


def test_new_jobs_are_disabled_until_enabled(cli):
    result = cli("runjob", "--local", "--data", json.dumps(BRANCH), "local/new_branch/NewBranch", code=2)
    assert "Job New Branch is not enabled to be run!" in result.output
    assert "local/new_branch/NewBranch: ERRORED" in result.output


def test_runjob_commit_prints_log_output_and_verdict(cli):
    cli("jobs", "enable", "local/new_branch/NewBranch")
    result = cli("runjob", "--local", "--commit", "--username", "admin", "--data", json.dumps(BRANCH),
                 "local/new_branch/NewBranch")
    out = result.output
    assert "Running local/new_branch/NewBranch..." in out
    assert "\trun\n\t\tsuccess: Branch 7: Created new site\n" in out
    assert "\trun: 3 success, 0 info, 0 warning, 0 failure" in out
    assert "name,make,model\nbranch-7-switch1,Cisco,Catalyst 9300-48P" in out
    assert "local/new_branch/NewBranch: SUCCESS" in out
    assert "Duration 0 minutes," in out and out.rstrip().endswith("Finished")


def test_runjob_json_prints_the_job_result(cli):
    cli("jobs", "enable", "local/device_connections/DeviceConnectionsReport")
    result = cli("runjob", "--local", "--json", "local/device_connections/DeviceConnectionsReport", code=1)
    body = json.loads(result.output)
    assert body["status"] == "failed"
    assert body["log_counts"]["failure"] == 2
    assert {entry["grouping"] for entry in body["logs"]} == {"test_console_connection", "test_power_connections"}


def test_commit_without_username_is_refused(cli):
    result = cli("runjob", "--local", "--commit", "local/new_branch/NewBranch", code=4)
    assert "--username is mandatory when --commit is used" in result.output


def test_bad_json_data_is_refused(cli):
    result = cli("runjob", "--local", "--data", "{nope", "local/new_branch/NewBranch", code=4)
    assert "Invalid JSON data:" in result.output


def test_bad_class_path_and_unknown_job_and_user_are_refused(cli):
    assert "class path form" in cli("runjob", "--local", "NewBranch", code=4).output
    assert 'Job "local/new_branch/Nope" not found' in cli("runjob", "--local", "local/new_branch/Nope", code=4).output
    assert "No such user" in cli("runjob", "--local", "-u", "ghost", "local/new_branch/NewBranch", code=4).output


def test_invalid_data_errors_and_names_every_variable(cli):
    cli("jobs", "enable", "local/new_branch/NewBranch")
    result = cli("runjob", "--local", "--data", '{"switch_count": "many"}', "local/new_branch/NewBranch", code=2)
    assert "site_name: This field is required." in result.output
    assert "switch_count: Enter a whole number." in result.output
    assert "switch_model: This field is required." in result.output


def test_jobs_set_show_and_clear_an_override(cli):
    cli("jobs", "set", "local/new_branch/NewBranch", "task_queues", "net,default")
    shown = json.loads(cli("jobs", "show", "local/new_branch/NewBranch").output)
    assert shown["task_queues"] == ["net", "default"] and shown["overridden"] == ["task_queues"]
    cli("jobs", "set", "local/new_branch/NewBranch", "task_queues", "--clear")
    shown = json.loads(cli("jobs", "show", "local/new_branch/NewBranch").output)
    assert shown["task_queues"] == [] and shown["overridden"] == []
    assert "takes true or false" in cli("jobs", "set", "local/new_branch/NewBranch", "hidden", "maybe", code=4).output


def test_jobs_set_refuses_a_time_limit_no_run_can_have(cli):
    for field in ("soft_time_limit", "time_limit"):
        for value in ("inf", "nan", "1e12", "604801"):
            output = cli("jobs", "set", "local/new_branch/NewBranch", field, value, code=4).output
            assert f"{field} takes 0 (use the default) to 604800 seconds (7 days), not '{value}'" in output
    shown = json.loads(cli("jobs", "show", "local/new_branch/NewBranch").output)
    assert shown["overridden"] == []


def test_jobs_set_accepts_a_time_limit_of_seven_days(cli):
    cli("jobs", "set", "local/new_branch/NewBranch", "time_limit", "604800")
    shown = json.loads(cli("jobs", "show", "local/new_branch/NewBranch").output)
    assert shown["time_limit"] == 604800 and shown["overridden"] == ["time_limit"]


def test_jobs_schema_prints_the_form(cli):
    schema = json.loads(cli("jobs", "schema", "local/new_branch/NewBranch").output)
    assert schema["x-order"][:3] == ["site_name", "switch_count", "switch_model"]
    assert schema["properties"]["switch_model"]["x-model"] == "dcim.devicetype"


def test_results_list_show_and_logs(cli):
    cli("jobs", "enable", "local/new_branch/NewBranch")
    body = json.loads(cli("runjob", "--local", "--json", "--data", json.dumps(BRANCH), "local/new_branch/NewBranch").output)
    listed = json.loads(cli("results", "list", "--json").output)
    assert listed[0]["id"] == body["id"] and listed[0]["status"] == "completed"
    shown = json.loads(cli("results", "show", body["id"], "--json").output)
    assert len(shown["logs"]) == 4
    logs = cli("results", "logs", body["id"]).output
    assert "success: Branch 7: Created new site" in logs
    assert "Database changes have been reverted automatically." in logs
    assert "is not a JobResult id" in cli("results", "show", "xyz", code=4).output


def test_the_installed_command_runs_as_a_process(cli):
    result = subprocess.run(
        [str(Path(sys.executable).parent / "jobruntime"), "jobs", "list", "--json"],
        env={**os.environ, **cli.env}, capture_output=True, text=True, check=True,
    )
    assert "local/new_branch/NewBranch" in {job["class_path"] for job in json.loads(result.stdout)}
