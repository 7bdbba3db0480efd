"""Setup and infrastructure failures end a command with one actionable line and exit 4, not a traceback."""

from __future__ import annotations

import sqlite3

import click
from click.testing import CliRunner

from jobruntime.cli.setup_errors import SetupErrorGroup
from tests.cli_support import database_env, invoker

JOB = "local/new_branch/NewBranch"


def test_commands_before_migrate_say_to_run_migrate(fresh_db_url, tmp_path):
    cli = invoker(database_env(fresh_db_url, tmp_path))
    for args in (("runjob", "--local", JOB), ("jobs", "list")):
        output = cli(*args, code=4).output
        assert "has no jobruntime schema yet" in output and "run `jobruntime migrate`" in output
        assert "Traceback" not in output


def test_unreachable_postgresql_is_named_without_its_password(tmp_path):
    cli = invoker(database_env("postgresql+psycopg://postgres:s3cret@127.0.0.1:1/jobruntime", tmp_path))
    output = cli("jobs", "list", code=4).output
    where = "postgresql+psycopg://postgres:***@127.0.0.1:1/jobruntime"
    assert output.startswith(f"Error: Cannot reach the database at {where}: ")
    assert "Connection refused" in output and "s3cret" not in output
    assert len(output.strip().splitlines()) == 1


def test_sqlite_file_that_cannot_be_opened_is_reported(tmp_path):
    cli = invoker(database_env(f"sqlite:///{tmp_path}", tmp_path))
    output = cli("results", "list", code=4).output
    assert output.strip() == f"Error: Cannot reach the database at sqlite:///{tmp_path}: unable to open database file"


def test_unreachable_broker_is_reported(tmp_path):
    env = database_env(f"sqlite:///{tmp_path / 'jobruntime.db'}", tmp_path)
    cli = invoker({**env, "JOBRUNTIME_BROKER_URL": "amqp://guest:s3cret@127.0.0.1:1//"})
    cli("migrate")  # runjob reads the Job record (does it need a schedule?) before it publishes
    output = cli("runjob", "-u", "admin", JOB, code=4).output
    assert output.startswith("Error: Cannot reach the message broker at amqp://guest:**@127.0.0.1:1// ")
    assert "s3cret" not in output and "Traceback" not in output


def test_invalid_setting_names_its_environment_variable(tmp_path):
    env = database_env(f"sqlite:///{tmp_path / 'jobruntime.db'}", tmp_path)
    cli = invoker({**env, "JOBRUNTIME_LEASE_SECONDS": "abc"})
    output = cli("jobs", "list", code=4).output
    assert output.strip() == (
        "Error: Invalid setting JOBRUNTIME_LEASE_SECONDS: expected a number, got 'abc'"
    )


def test_other_errors_keep_their_traceback():
    @click.group(cls=SetupErrorGroup)
    def group() -> None:
        pass

    @group.command()
    def broken() -> None:
        raise sqlite3.OperationalError('near "SELEC": syntax error')

    result = CliRunner().invoke(group, ["broken"])
    assert isinstance(result.exception, sqlite3.OperationalError)
    assert result.exit_code == 1


def test_a_database_url_or_home_that_names_no_usable_database_is_an_invalid_setting(tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    cases = {
        ("JOBRUNTIME_DATABASE_URL", "nonsense://x"): "not a database URL SQLAlchemy can use (Can't load plugin",
        ("JOBRUNTIME_DATABASE_URL", "not a url"): "not a database URL SQLAlchemy can use (Could not parse",
        ("JOBRUNTIME_HOME", str(blocked / "home")): "cannot create the database's directory",
    }
    for (variable, value), problem in cases.items():
        env = {**database_env("", tmp_path), variable: value}
        output = invoker(env)("jobs", "list", code=4).output
        assert output.startswith(f"Error: Invalid setting {variable}: {problem}"), output
        assert len(output.strip().splitlines()) == 1


def test_a_broker_url_with_no_transport_is_an_invalid_setting_before_any_worker_process_starts(tmp_path):
    env = {**database_env(f"sqlite:///{tmp_path / 'jobruntime.db'}", tmp_path), "JOBRUNTIME_BROKER_URL": "nonsense://x"}
    cli = invoker(env)
    cli("migrate")
    for args in (("runjob", "-u", "admin", JOB), ("worker", "-Q", "default")):
        output = cli(*args, code=4).output
        assert output.strip() == ("Error: Invalid setting JOBRUNTIME_BROKER_URL: No such transport: nonsense "
                                  "(use amqp://... or memory://)")
