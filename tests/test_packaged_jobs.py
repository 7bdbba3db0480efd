"""Packaged jobs: an installed distribution's ``jobruntime.jobs`` entry point provides ``plugins/<module>/<Class>``."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from tests.cli_support import database_env, invoker

ACME_JOBS = '''
from jobruntime import Job, StringVar

name = "Acme jobs"


class Ping(Job):
    class Meta:
        name = "Ping"
        has_sensitive_variables = False

    target = StringVar(default="hq-rtr1")

    def run(self, data, commit):
        self.log_success(message=f"pinged {data['target']}")
        return data["target"]
'''


def install_acme_jobs(site: Path) -> None:
    """Install the example package as pip would: the code, and a dist-info declaring the entry point."""
    package = site / "acme_jobs"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "jobs.py").write_text(ACME_JOBS)
    dist_info = site / "acme_jobs-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-jobs\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("[jobruntime.jobs]\nacme = acme_jobs.jobs\n")


@pytest.fixture
def cli(engine, db_url, tmp_path):
    invoke = invoker(database_env(db_url, tmp_path / "home"))
    invoke("users", "create", "admin", "--superuser")
    return invoke


def test_an_installed_package_with_a_jobs_entry_point_provides_runnable_jobs(cli, tmp_path, monkeypatch):
    install_acme_jobs(tmp_path / "site")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    assert "Created Job record plugins/acme_jobs.jobs/Ping" in cli("sync").output
    cli("jobs", "enable", "plugins/acme_jobs.jobs/Ping")
    body = json.loads(cli("runjob", "--local", "--json", "-d", '{"target": "edge1"}',
                          "plugins/acme_jobs.jobs/Ping").output)
    assert body["status"] == "completed" and body["output"].strip() == "edge1"
    assert body["source"] is None


def test_plugin_job_modules_setting_still_provides_jobs(cli, tmp_path):
    env = {**cli.env, "JOBRUNTIME_PLUGIN_JOB_MODULES": '["tests.plugin_pkg.jobs"]'}
    invoke = invoker(env)
    assert "Created Job record plugins/tests.plugin_pkg.jobs/PluginJob" in invoke("sync").output
    invoke("jobs", "enable", "plugins/tests.plugin_pkg.jobs/PluginJob")
    body = json.loads(invoke("runjob", "--local", "--json", "plugins/tests.plugin_pkg.jobs/PluginJob").output)
    assert body["output"].strip() == "from a plugin"


def test_a_local_sync_leaves_git_jobs_alone(cli, tmp_path):
    from tests.git_support import hello_repository

    repository = hello_repository(tmp_path / "remote")
    cli("git", "add", "team", repository.url)
    cli("git", "sync", "team")
    assert "git.team/hello/Hello" not in cli("sync").output
    listed = {job["class_path"]: job for job in json.loads(cli("jobs", "list", "--json").output)}
    assert listed["git.team/hello/Hello"]["installed"] is True
