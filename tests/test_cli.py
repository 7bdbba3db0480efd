"""The command line, end to end: migrate, sync, users, jobs, runjob --local, results."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from jobruntime.models import JobLogEntry, JobResult
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


def unfinished_result(engine, status: str, started: dt.datetime | None) -> str:
    """A JobResult still pending or running, with a log whose groupings interleave, as a worker leaves it."""
    with Session(engine) as session, session.begin():
        result = JobResult(
            name="local/new_branch/NewBranch", status=status,
            created=dt.datetime(2024, 5, 1, 9, 30, 10, tzinfo=dt.timezone.utc), started=started,
        )
        session.add(result)
        session.flush()
        for seq, grouping, message in ((2, "test_b", "second"), (1, "run", "first"), (3, "run", "third")):
            session.add(JobLogEntry(job_result_id=result.id, seq=seq, log_level="info", grouping=grouping,
                                    message=message))
        return str(result.id)


def test_results_show_of_a_running_run_says_running_and_prints_its_log(cli, engine):
    started = dt.datetime(2024, 5, 1, 9, 30, 15, tzinfo=dt.timezone.utc)
    out = cli("results", "show", unfinished_result(engine, "running", started)).output
    assert out.startswith(
        "local/new_branch/NewBranch  running\n"
        "Created 2024-05-01 09:30:10 UTC, started 2024-05-01 09:30:15 UTC\n"
        "\trun\n\t\tinfo: first\n\ttest_b\n\t\tinfo: second\n\trun\n\t\tinfo: third\n"
    )
    assert out.endswith("[09:30:15] local/new_branch/NewBranch: RUNNING\n")
    assert "SUCCESS" not in out and "Duration" not in out and "Finished" not in out


def test_results_show_of_a_pending_run_says_pending_as_of_its_creation(cli, engine):
    out = cli("results", "show", unfinished_result(engine, "pending", None)).output
    assert "Created 2024-05-01 09:30:10 UTC\n" in out
    assert out.endswith("[09:30:10] local/new_branch/NewBranch: PENDING\n")


def test_results_show_of_an_ended_run_prints_its_log_and_its_own_times(cli):
    cli("jobs", "enable", "local/new_branch/NewBranch")
    run = cli("runjob", "--local", "--json", "--data", json.dumps(BRANCH), "local/new_branch/NewBranch")
    body = json.loads(run.output)
    out = cli("results", "show", body["id"]).output
    ended = dt.datetime.fromisoformat(body["completed"])
    assert "local/new_branch/NewBranch  completed\n" in out
    assert f"completed {ended:%Y-%m-%d %H:%M:%S} UTC\n" in out
    assert "\trun\n\t\tsuccess: Branch 7: Created new site\n" in out
    assert "\trun: 3 success, 1 info, 0 warning, 0 failure\n" in out
    assert f"{ended:[%H:%M:%S]} local/new_branch/NewBranch: SUCCESS\n" in out
    assert f"{ended:[%H:%M:%S]} local/new_branch/NewBranch: Duration {body['duration']}\n" in out


def test_results_logs_of_an_unknown_result_is_refused(cli):
    unknown = str(uuid.uuid4())
    assert f"No JobResult {unknown}" in cli("results", "logs", unknown, code=4).output
    assert f"No JobResult {unknown}" in cli("results", "logs", unknown, "--json", code=4).output


def test_results_list_filters_by_status(cli):
    cli("runjob", "--local", "local/new_branch/NewBranch", code=2)
    errored = json.loads(cli("results", "list", "--status", "errored", "--json").output)
    assert [row["status"] for row in errored] == ["errored"]
    assert json.loads(cli("results", "list", "--status", "completed", "--json").output) == []


def test_results_list_refuses_a_status_runs_never_have(cli):
    result = cli("results", "list", "--status", "bogus", code=2)
    assert "Invalid value for '--status': 'bogus' is not one of" in result.output
    assert "'pending', 'running', 'completed', 'failed', 'errored'" in result.output


def test_jobs_list_never_cuts_a_class_path_in_a_narrow_terminal(cli):
    class_paths = [job["class_path"] for job in json.loads(cli("jobs", "list", "--json").output)]
    listed = invoker({**cli.env, "COLUMNS": "60"})("jobs", "list").output
    for class_path in class_paths:
        assert f"│ {class_path} " in listed


def test_results_list_never_cuts_a_result_id_in_a_narrow_terminal(cli):
    body = json.loads(cli("runjob", "--local", "--json", "local/new_branch/NewBranch", code=2).output)
    listed = invoker({**cli.env, "COLUMNS": "60"})("results", "list").output
    assert f"│ {body['id']} │" in listed


def test_the_installed_command_runs_as_a_process(cli):
    result = subprocess.run(
        [str(Path(sys.executable).parent / "jobruntime"), "jobs", "list", "--json"],
        env={**os.environ, **cli.env}, capture_output=True, text=True, check=True,
    )
    assert "local/new_branch/NewBranch" in {job["class_path"] for job in json.loads(result.stdout)}


GC_PROBE = '''
import gc

from jobruntime.authoring.job import Job


class GcProbe(Job):
    def run(self, data, commit):
        self.log_info(f"collector enabled: {gc.isenabled()}; start-up frozen: {gc.get_freeze_count() > 0}")
'''


def test_the_command_runs_jobs_with_the_garbage_collector_it_paused_for_start_up(engine, db_url, tmp_path):
    jobs_root = tmp_path / "jobs"
    jobs_root.mkdir()
    (jobs_root / "__init__.py").write_text("")
    (jobs_root / "probe.py").write_text(GC_PROBE)
    env = {**database_env(db_url, tmp_path), "JOBRUNTIME_JOBS_ROOT": str(jobs_root)}
    invoke = invoker(env)
    invoke("migrate")
    invoke("sync")
    invoke("jobs", "enable", "local/probe/GcProbe")
    for command in ([str(Path(sys.executable).parent / "jobruntime")], [sys.executable, "-m", "jobruntime"]):
        result = subprocess.run(
            [*command, "runjob", "--local", "local/probe/GcProbe"],
            env={**os.environ, **env}, capture_output=True, text=True, check=True,
        )
        assert "info: collector enabled: True; start-up frozen: True" in result.stdout


def test_a_local_run_of_a_job_without_variables_loads_no_validation_or_wire_schemas(engine, db_url, tmp_path):
    """pydantic costs a fifth of a second of start-up; such a run has nothing for it to check."""
    env = {**database_env(db_url, tmp_path), "JOBRUNTIME_JOBS_ROOT": str(Path(__file__).parent.parent / "jobs")}
    invoke = invoker(env)
    invoke("migrate")
    invoke("sync")
    invoke("jobs", "enable", "local/device_connections/DeviceConnectionsReport")
    script = (
        "import sys\n"
        "from jobruntime.__main__ import main\n"
        "sys.argv = ['jobruntime', 'runjob', '--local', 'local/device_connections/DeviceConnectionsReport']\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    print('exit', exit.code)\n"
        "print('loaded:', sorted({name.split('.')[0] for name in sys.modules} & {'pydantic', 'jobruntime'}),"
        " 'jobruntime.authoring.inputs' in sys.modules, 'jobruntime.bus.messages' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], env={**os.environ, **env}, capture_output=True, text=True)
    assert "local/device_connections/DeviceConnectionsReport: SUCCESS" in result.stdout, result.stdout + result.stderr
    assert "loaded: ['jobruntime'] False False" in result.stdout
