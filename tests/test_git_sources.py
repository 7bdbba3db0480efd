"""Jobs from Git repositories, through the command line: add, sync, run pinned to a commit, credentials."""

from __future__ import annotations

import json
import shutil
import uuid

import pytest
from sqlalchemy.orm import Session

from jobruntime.models import JobResult
from jobruntime.sources.pinning import pin
from tests.cli_support import database_env, invoker
from tests.git_support import git, hello_repository, http_git_server

HELLO = "git.team/hello/Hello"
HELLO_WITH_VARIABLE = '''
from jobruntime import Job, StringVar


class Hello(Job):
    who = StringVar()

    def run(self, data, commit):
        return data["who"]
'''


@pytest.fixture
def cli(engine, db_url, tmp_path):
    invoke = invoker(database_env(db_url, tmp_path / "home"))
    invoke("users", "create", "admin", "--superuser")
    return invoke


@pytest.fixture
def team(cli, tmp_path):
    """The repository "team", added and synced, with its Hello job enabled."""
    repository = hello_repository(tmp_path / "remote")
    cli("git", "add", "team", repository.url)
    cli("git", "sync", "team")
    cli("jobs", "enable", HELLO)
    return repository


def run_json(cli, class_path, code=0):
    """The run's JobResult as JSON, its output without the newline each appended value starts with."""
    body = json.loads(cli("runjob", "--local", "--json", class_path, code=code).output)
    return {**body, "output": (body["output"] or "").strip()}


def test_sync_creates_disabled_records_named_after_the_repository(cli, tmp_path):
    repository = hello_repository(tmp_path / "remote")
    cli("git", "add", "team", repository.url)
    synced = cli("git", "sync", "team").output
    assert "success: Created Job record git.team/hello/Hello" in synced
    listed = {job["class_path"]: job for job in json.loads(cli("jobs", "list", "--json").output)}
    assert listed[HELLO]["enabled"] is False and listed[HELLO]["installed"] is True
    assert listed[HELLO]["grouping"] == "Git jobs"


def test_git_job_runs_from_its_commit_with_relative_imports_and_records_it(cli, team):
    commit = json.loads(cli("git", "show", "team").output)["current_head"]
    body = run_json(cli, HELLO)
    assert body["status"] == "completed" and body["output"] == "hello v1"
    assert body["source"] == f"git.team@{commit}"
    assert f"source: git.team@{commit}" in cli("results", "show", body["id"]).output


def test_a_sync_after_a_push_makes_the_next_run_use_the_new_commit(cli, team):
    first = run_json(cli, HELLO)
    team.write("jobs/helpers.py", "GREETING = 'hello v2'\n")
    new_commit = team.push("v2")
    assert run_json(cli, HELLO)["output"] == "hello v1"  # not synced yet: still the old commit
    cli("git", "sync", "team")
    second = run_json(cli, HELLO)
    assert second["output"] == "hello v2" and second["source"] == f"git.team@{new_commit}"
    assert first["source"] != second["source"]


def test_a_broken_module_is_reported_and_the_others_still_load(cli, team):
    team.write("jobs/broken.py", "import no_such_module\n")
    team.push("broken")
    synced = cli("git", "sync", "team", code=1)
    assert "failure: Error in loading Jobs from `broken`: `ModuleNotFoundError: No module named 'no_such_module'`" \
        in synced.output
    assert "success: Refreshed Job record git.team/hello/Hello" in synced.output
    assert run_json(cli, HELLO)["status"] == "completed"


def test_a_deleted_job_is_marked_no_longer_installed_and_cannot_run(cli, team):
    team.remove("jobs/hello.py")
    team.push("remove hello")
    assert "warning: Marking Job record as no longer installed git.team/hello/Hello" in cli("git", "sync", "team").output
    listed = {job["class_path"]: job for job in json.loads(cli("jobs", "list", "--json").output)}
    assert listed[HELLO]["installed"] is False
    body = run_json(cli, HELLO, code=2)
    assert body["status"] == "errored"


def test_a_repository_without_a_jobs_folder_is_reported(cli, tmp_path):
    repository = hello_repository(tmp_path / "remote")
    shutil.rmtree(repository.work / "jobs")
    repository.push("no jobs")
    cli("git", "add", "team", repository.url)
    assert "warning: No `jobs` subdirectory found in Git repository" in cli("git", "sync", "team").output


def test_two_repositories_never_share_a_module(cli, tmp_path):
    for name, greeting in (("team", "from team"), ("other", "from other")):
        repository = hello_repository(tmp_path / name, greeting=greeting, name=name)
        cli("git", "add", name, repository.url)
        cli("git", "sync", name)
        cli("jobs", "set", f"git.{name}/hello/Hello", "grouping", name)
        cli("jobs", "enable", f"git.{name}/hello/Hello")
    assert run_json(cli, "git.team/hello/Hello")["output"] == "from team"
    assert run_json(cli, "git.other/hello/Hello")["output"] == "from other"


def test_a_class_path_the_sync_has_not_seen_is_refused_like_an_unknown_job(cli, team):
    refused = cli("runjob", "--local", "git.team/hello/Missing", code=4)
    assert 'Job "git.team/hello/Missing" not found' in refused.output
    assert "not found" in cli("runjob", "--local", "git.nope/hello/Hello", code=4).output


def test_a_run_whose_commit_cannot_be_fetched_errors_with_the_reason(cli, team, tmp_path):
    shutil.rmtree(team.bare)
    shutil.rmtree(tmp_path / "home" / "git")  # as a worker that has never seen the commit
    body = run_json(cli, HELLO, code=2)
    assert body["status"] == "errored"
    assert body["reason"].startswith("Unable to fetch commit ")


def test_a_url_carrying_credentials_is_refused(cli):
    refused = cli("git", "add", "team", "https://user:secret@example.com/team.git", code=4)
    assert "put the token in an environment variable" in refused.output
    assert "No Git repository" in cli("git", "show", "team", code=4).output


def test_deleting_a_repository_uninstalls_its_jobs(cli, team):
    assert f"Marked Job record {HELLO} as no longer installed" in cli("git", "delete", "team").output
    assert json.loads(cli("git", "list", "--json").output) == []
    assert run_json(cli, HELLO, code=2)["status"] == "errored"


def test_a_private_repository_is_fetched_with_the_token_from_the_environment(cli, tmp_path, monkeypatch):
    repository = hello_repository(tmp_path / "served", name="private")
    with http_git_server(tmp_path / "served", token="s3cret-token") as base:
        cli("git", "add", "private", f"{base}/private.git", "--token-env", "TEAM_GIT_TOKEN")
        missing = cli("git", "sync", "private", code=4)
        assert "TEAM_GIT_TOKEN" in missing.output and "is not set" in missing.output
        monkeypatch.setenv("TEAM_GIT_TOKEN", "wrong")
        assert "s3cret" not in cli("git", "sync", "private", code=4).output
        monkeypatch.setenv("TEAM_GIT_TOKEN", "s3cret-token")
        assert "Created Job record git.private/hello/Hello" in cli("git", "sync", "private").output
        cli("jobs", "enable", "git.private/hello/Hello")
        assert run_json(cli, "git.private/hello/Hello")["output"] == "hello v1"
    shown = cli("git", "show", "private").output
    assert json.loads(shown)["token_env"] == "TEAM_GIT_TOKEN" and "s3cret" not in shown
    assert repository.bare.exists()


def test_the_input_form_of_a_git_job_comes_from_the_current_commit(cli, team):
    team.write("jobs/hello.py", HELLO_WITH_VARIABLE)
    team.push("variable")
    cli("git", "sync", "team")
    schema = json.loads(cli("jobs", "schema", HELLO).output)
    assert list(schema["properties"]) == ["who"]


def test_the_cache_keeps_at_most_its_limit_of_commits(tmp_path):
    from jobruntime.sources.cache import CommitCache
    from jobruntime.sources.remote import Remote

    repository = hello_repository(tmp_path / "remote")
    first = git(repository.work, "rev-parse", "HEAD")
    repository.write("jobs/helpers.py", "GREETING = 'v2'\n")
    second = repository.push("v2")
    cache = CommitCache(tmp_path / "home", limit=1)
    remote = Remote(repository.url)
    assert (cache.jobs_folder("team", remote, first) / "helpers.py").read_text() == "GREETING = 'hello v1'\n"
    assert (cache.jobs_folder("team", remote, second) / "helpers.py").read_text() == "GREETING = 'v2'\n"
    kept = [path.name for path in (tmp_path / "home" / "git" / "team" / "commits").iterdir()]
    assert kept == [second]


def test_a_run_started_again_keeps_the_commit_its_first_attempt_recorded(cli, team, engine):
    """A lost worker's run, re-queued after a sync moved the branch, still runs the commit it recorded."""
    first = run_json(cli, HELLO)
    team.write("jobs/helpers.py", "GREETING = 'hello v2'\n")
    new_commit = team.push("v2")
    cli("git", "sync", "team")
    again, new = uuid.uuid4(), uuid.uuid4()
    with Session(engine) as session, session.begin():
        session.add_all([JobResult(id=again, name=HELLO, status="pending", source=first["source"]),
                         JobResult(id=new, name=HELLO, status="pending")])
    with Session(engine) as session, session.begin():
        assert pin(session, "git.team", again).source == first["source"]
        assert pin(session, "git.team", new).source == f"git.team@{new_commit}"
    with Session(engine) as session:
        assert session.get(JobResult, new).source == f"git.team@{new_commit}"


def test_a_repository_takes_one_credential_variable_and_stores_only_its_name(cli):
    both = cli("git", "add", "team", "ssh://git@example.com/team.git", "--token-env", "A", "--ssh-key-env", "B", code=4)
    assert "either --token-env or --ssh-key-env" in both.output
    assert "name of an environment variable" in cli("git", "add", "team", "x", "--token-env", "$TOKEN", code=4).output
    cli("git", "add", "team", "ssh://git@example.com/team.git", "--ssh-key-env", "TEAM_SSH_KEY")
    assert json.loads(cli("git", "show", "team").output)["ssh_key_env"] == "TEAM_SSH_KEY"


def test_an_ssh_key_is_handed_to_git_from_the_variable_named_at_add():
    from jobruntime.sources.remote import GitError, Remote

    remote = Remote("ssh://git@example.com/team.git", ssh_key_env="TEAM_SSH_KEY")
    assert "-i /keys/team" in remote.environment({"TEAM_SSH_KEY": "/keys/team"})["GIT_SSH_COMMAND"]
    with pytest.raises(GitError, match="TEAM_SSH_KEY"):
        remote.environment({})
