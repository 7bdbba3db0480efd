"""`jobruntime runjob --schedule`, `schedules` and `approvals` through the command line, on both backends."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text

from tests.cli_support import database_env, invoker

JOB = "local/data_quality/RouterLoopbacks"
SENSITIVE = "local/new_branch/NewBranch"


@pytest.fixture
def cli(engine, db_url, tmp_path):
    invoke = invoker({**database_env(db_url, tmp_path), "JOBRUNTIME_TIME_ZONE": "Europe/Paris"})
    invoke("sync")
    invoke("jobs", "enable", JOB)
    invoke("users", "create", "alice", "--superuser")
    return invoke


def _in_two_days() -> str:
    return (dt.date.today() + dt.timedelta(days=2)).isoformat()


def _paris(wall: str) -> str:
    return dt.datetime.fromisoformat(wall).replace(tzinfo=ZoneInfo("Europe/Paris")).isoformat()


def test_runjob_schedule_prints_the_schedule_id_and_its_first_run(cli):
    result = cli("runjob", "-u", "alice", "--schedule", "daily", "--at", f"{_in_two_days()}T09:00:00", JOB)
    schedule_id, summary = result.output.splitlines()
    assert f"first runs at {_paris(f'{_in_two_days()}T09:00:00')}" in summary
    shown = json.loads(cli("schedules", "show", schedule_id, "--json").output)
    assert shown["time_zone"] == "Europe/Paris" and shown["state"] == "scheduled"
    assert len(shown["next_runs"]) == 5
    assert shown["next_runs"][1].startswith((dt.date.today() + dt.timedelta(days=3)).isoformat())


def test_runjob_schedule_json_is_shaped_like_the_rest_api_answer(cli):
    body = json.loads(cli("runjob", "-u", "alice", "--schedule", "custom", "--crontab", "*/15 9,17 3 * 1-5",
                          "--tz", "UTC", "--name", "loopbacks", "--data", "{}", "--json", JOB).output)
    assert body["job_result"] is None
    schedule = body["schedule"]
    assert (schedule["name"], schedule["interval"], schedule["crontab"]) == ("loopbacks", "custom", "*/15 9,17 3 * 1-5")
    assert all(run.endswith("+00:00") for run in schedule["next_runs"])


def test_runjob_refuses_a_bad_crontab_and_a_missing_start(cli):
    assert "Invalid crontab" in cli("runjob", "-u", "alice", "--schedule", "custom", "--crontab", "* * *", JOB,
                                    code=4).output
    assert "needs a start time (--at)" in cli("runjob", "-u", "alice", "--schedule", "weekly", JOB, code=4).output


def test_a_job_with_sensitive_variables_cannot_be_scheduled(cli):
    cli("jobs", "enable", SENSITIVE)
    result = cli("runjob", "-u", "alice", "--schedule", "future", "--at", f"{_in_two_days()}T09:00:00", SENSITIVE,
                 code=4)
    assert "Unable to schedule job: Job may have sensitive input variables" in result.output


def test_schedules_can_be_listed_disabled_enabled_and_deleted(cli):
    schedule_id = cli("runjob", "-u", "alice", "--schedule", "hourly", "--at", f"{_in_two_days()}T09:00:00",
                      JOB).output.splitlines()[0]
    cli("schedules", "disable", schedule_id)
    [listed] = json.loads(cli("schedules", "list", "--json").output)
    assert (listed["id"], listed["state"], listed["next_runs"]) == (schedule_id, "disabled", [])
    cli("schedules", "enable", schedule_id)
    assert json.loads(cli("schedules", "show", schedule_id, "--json").output)["state"] == "scheduled"
    assert json.loads(cli("schedules", "list", "--awaiting-approval", "--json").output) == []
    cli("schedules", "delete", schedule_id)
    assert "No schedule" in cli("schedules", "show", schedule_id, code=4).output


def test_an_approval_required_job_run_now_becomes_a_schedule_awaiting_approval(cli):
    cli("jobs", "set", JOB, "approval_required", "true")
    cli("users", "create", "bob")
    cli("users", "grant", "bob", "approve_job", "--job", JOB)
    schedule_id = cli("runjob", "-u", "alice", "--data", "{}", JOB).output.splitlines()[0]
    [waiting] = json.loads(cli("approvals", "list", "--json").output)
    assert (waiting["id"], waiting["interval"], waiting["state"]) == (schedule_id, "immediately", "awaiting approval")
    assert "approved by bob" in cli("approvals", "approve", schedule_id, "-u", "bob").output
    assert "is not awaiting approval" in cli("approvals", "deny", schedule_id, "-u", "bob", code=4).output


def test_prune_reports_success(cli):
    assert "Stale scheduled jobs deleted successfully (0)" in cli("schedules", "prune", "--older-than", "30d").output
    assert "Invalid age" in cli("schedules", "prune", "--older-than", "soon", code=4).output


def test_at_and_crontab_need_a_schedule_other_than_immediately(cli):
    result = cli("runjob", "-u", "alice", "--at", f"{_in_two_days()}T09:00:00", JOB, code=4)
    assert "--at and --crontab need --schedule" in result.output


def test_a_schedule_with_invalid_input_is_refused_before_it_is_stored(cli):
    result = cli("runjob", "-u", "alice", "--schedule", "daily", "--at", f"{_in_two_days()}T09:00:00",
                 "--data", '{"loopback_prefix": 5, "colour": "red"}', JOB, code=4)
    assert "Error initializing job" in result.output and "colour: " in result.output
    assert json.loads(cli("schedules", "list", "--json").output) == []


def test_the_scheduler_runs_due_schedules_on_the_embedded_default(cli):
    env = cli.env
    if not env["JOBRUNTIME_DATABASE_URL"].startswith("sqlite"):
        pytest.skip("the embedded default is SQLite with the memory:// broker")
    start = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=2)).isoformat(timespec="seconds")
    job = "local/data_quality/IPAddressParents"  # no addresses, so nothing to fail
    cli("jobs", "enable", job)
    schedule_id = cli("runjob", "-u", "alice", "--schedule", "future", "--at", start, job).output.splitlines()[0]
    process = subprocess.Popen([str(Path(sys.executable).parent / "jobruntime"), "scheduler"],
                               env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        engine = create_engine(env["JOBRUNTIME_DATABASE_URL"])
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and status not in ("completed", "failed", "errored"):
            time.sleep(0.2)
            with engine.connect() as connection:
                status = connection.execute(text("SELECT status FROM job_result")).scalar()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    assert status == "completed"
    assert json.loads(cli("schedules", "show", schedule_id, "--json").output)["total_run_count"] == 1
