"""The bus path on the embedded default: memory:// broker, SQLite, one process."""

from __future__ import annotations

import json

import pytest

from tests.cli_support import REPO, invoker
from tests.test_cli import BRANCH


@pytest.fixture
def embedded(tmp_path):
    env = {
        "JOBRUNTIME_HOME": str(tmp_path),
        "JOBRUNTIME_JOBS_ROOT": str(REPO / "jobs"),
        "JOBRUNTIME_BROKER_URL": "memory://",
        "JOBRUNTIME_DATABASE_URL": "",
        "JOBRUNTIME_SIGNING_SECRET": "",
    }
    invoke = invoker(env)
    for command in (("migrate",), ("sync",), ("users", "create", "admin", "--superuser"), ("demo",),
                    ("jobs", "enable", "local/new_branch/NewBranch")):
        invoke(*command)
    return invoke


def test_runjob_without_local_runs_through_the_in_process_worker(embedded):
    result = embedded("runjob", "-u", "admin", "--commit", "--data", json.dumps(BRANCH), "local/new_branch/NewBranch")
    assert "on the bus as" in result.output
    assert "success: Branch 7: Created new site" in result.output
    assert "local/new_branch/NewBranch: SUCCESS" in result.output


def test_embedded_run_result_can_be_read_back(embedded):
    body = json.loads(embedded("runjob", "-u", "admin", "--json", "--data", json.dumps(BRANCH),
                               "local/new_branch/NewBranch").output)
    assert body["status"] == "completed" and body["user"] == "admin"
    shown = json.loads(embedded("results", "show", body["id"], "--json").output)
    assert shown["logs"][-1]["message"] == "Database changes have been reverted automatically."


def test_bus_run_needs_a_username(embedded):
    result = embedded("runjob", "local/new_branch/NewBranch", code=4)
    assert "--username is mandatory when the run goes through a worker" in result.output


def test_embedded_run_of_a_disabled_job_errors(embedded):
    embedded("jobs", "disable", "local/new_branch/NewBranch")
    result = embedded("runjob", "-u", "admin", "--data", json.dumps(BRANCH), "local/new_branch/NewBranch", code=2)
    assert "Job New Branch is not enabled to be run!" in result.output


def test_bus_run_of_an_unknown_job_ends_at_once_with_the_workers_reason(embedded):
    result = embedded("runjob", "-u", "admin", "local/nope/Missing", code=4)
    assert 'The worker rejected the request: Job "local/nope/Missing" not found' in result.output


def test_bus_run_prints_its_log_in_the_order_a_local_run_does(embedded):
    """Entries arrive as one event per level and batch; they are shown in the order they were logged."""
    embedded("jobs", "enable", "local/device_connections/DeviceConnectionsReport")

    def log_lines(*flags: str) -> list[str]:
        job = "local/device_connections/DeviceConnectionsReport"
        output = embedded("runjob", "-u", "admin", *flags, job, code=1).output  # it finds problems: failed
        return [line for line in output.splitlines() if line.startswith("\t")]

    on_the_bus = log_lines()
    assert [line for line in on_the_bus if not line.startswith("\t\t")][:2] == [
        "\ttest_console_connection", "\ttest_power_connections",
    ]
    assert on_the_bus == log_lines("--local")


def test_a_bus_run_refused_before_it_starts_exits_4_as_a_local_one_does(embedded):
    result = embedded("runjob", "-u", "ghost", "--data", json.dumps(BRANCH), "local/new_branch/NewBranch", code=4)
    assert "The worker rejected the request: No such user: ghost" in result.output
    embedded("runjob", "--local", "-u", "ghost", "--commit", "--data", json.dumps(BRANCH),
             "local/new_branch/NewBranch", code=4)
