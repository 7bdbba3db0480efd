"""`jobruntime users token|grant` and `jobruntime messages schema`, end to end through the CLI."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from jobruntime.bus.messages import RunRequest
from jobruntime.cli import main
from jobruntime.models import ObjectPermission, Token
from jobruntime.run.auth import authenticate
from jobruntime.store.prebuilt import in_session
from tests.cli_support import database_env, invoker

JOB = "local/new_branch/NewBranch"


@pytest.fixture
def cli(engine, db_url, tmp_path):
    invoke = invoker(database_env(db_url, tmp_path))
    invoke("sync")
    invoke("users", "create", "alice")
    return invoke


def permissions(engine) -> list[ObjectPermission]:
    with Session(engine) as session:
        return list(session.scalars(select(ObjectPermission)))


def test_token_prints_only_the_key_on_stdout(cli, engine):
    result = cli("users", "token", "alice", "--description", "ci")
    key = result.stdout.strip()
    assert "\n" not in key
    with Session(engine) as session:
        stored = session.scalars(select(Token)).one()
        assert (stored.key_hash, stored.description) == (hashlib.sha256(key.encode()).hexdigest(), "ci")


def test_token_warns_that_the_key_will_not_be_shown_again(cli):
    result = cli("users", "token", "alice")
    assert "Token for alice (never expires). Store the key now: it will not be shown again." in result.stderr


def test_printed_token_authenticates_its_user(cli, engine):
    key = cli("users", "token", "alice").stdout.strip()
    request = RunRequest(job=JOB, requested_by="alice", token=key)
    with Session(engine) as session:
        assert authenticate(in_session(session), request, None).username == "alice"


def test_token_expires_after_the_given_days(cli, engine):
    cli("users", "token", "alice", "--expires-days", "30")
    with Session(engine) as session:
        expires = session.scalars(select(Token.expires)).one()
    left = expires - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(days=29, hours=23) < left <= dt.timedelta(days=30)


def test_token_refuses_zero_expiry_days(cli):
    result = cli("users", "token", "alice", "--expires-days", "0", code=2)
    assert "--expires-days" in result.output


def test_token_for_an_unknown_user_is_refused(cli):
    result = cli("users", "token", "bob", code=4)
    assert "No such user: bob (create it with `jobruntime users create bob`)" in result.output


def test_grant_without_job_allows_every_job(cli, engine):
    result = cli("users", "grant", "alice", "run_job")
    assert result.output.strip() == "alice may run_job on every job"
    [permission] = permissions(engine)
    assert (permission.action, permission.job_id) == ("run_job", None)


def test_grant_with_job_allows_that_job(cli, engine):
    result = cli("users", "grant", "alice", "run_job", "--job", JOB)
    assert result.output.strip() == f"alice may run_job on {JOB}"
    [permission] = permissions(engine)
    assert permission.job_id is not None


def test_granting_twice_keeps_one_permission(cli, engine):
    cli("users", "grant", "alice", "run_job", "--job", JOB)
    cli("users", "grant", "alice", "run_job", "--job", JOB)
    assert len(permissions(engine)) == 1


def test_grant_for_an_unknown_user_is_refused(cli, engine):
    result = cli("users", "grant", "bob", "run_job", code=4)
    assert "No such user: bob" in result.output
    assert permissions(engine) == []


def test_grant_for_an_unknown_job_is_refused(cli, engine):
    result = cli("users", "grant", "alice", "run_job", "--job", "local/new_branch/Missing", code=4)
    assert 'Job "local/new_branch/Missing" not found' in result.output
    assert permissions(engine) == []


def test_grant_for_a_malformed_class_path_is_refused(cli):
    result = cli("users", "grant", "alice", "run_job", "--job", "NewBranch", code=4)
    assert "class path form" in result.output


def test_grant_refuses_an_action_no_one_checks(cli, engine):
    result = cli("users", "grant", "alice", "fly", code=4)
    assert "Unknown action 'fly': choose one of run_job" in result.output
    assert permissions(engine) == []


@pytest.mark.parametrize("name", ["", "   ", " bob", "bob\t"])
def test_create_refuses_a_blank_or_padded_username(cli, name):
    result = cli("users", "create", name, code=4)
    assert "A username cannot" in result.output
    assert cli("users", "list").output.strip() == "alice"


def test_create_refuses_a_username_too_long_to_store(cli):
    result = cli("users", "create", "b" * 151, code=4)
    assert "A username must be at most 150 characters" in result.output


def test_messages_schema_prints_the_run_request_json_schema():
    result = CliRunner().invoke(main, ["messages", "schema"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    schema = json.loads(result.output)
    assert schema["title"] == "RunRequest" and "job_result_id" in schema["properties"]
