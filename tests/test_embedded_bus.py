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
