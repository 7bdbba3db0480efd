"""Settings come from keyword arguments, then ``JOBRUNTIME_*``, then defaults, and are always checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobruntime.core.settings import DEFAULT_SANITIZER_PATTERNS, MAX_TIME_LIMIT, InvalidSetting, Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ("HOME", "DATABASE_URL", "JOBS_ROOT", "BROKER_URL", "SIGNING_SECRET", "LEASE_SECONDS"):
        monkeypatch.delenv(f"JOBRUNTIME_{name}", raising=False)


def test_defaults():
    settings = Settings()
    assert settings.home == Path(".jobruntime").resolve()
    assert settings.effective_database_url == f"sqlite:///{Path('.jobruntime').resolve() / 'jobruntime.db'}"
    assert (settings.soft_time_limit, settings.time_limit) == (300, 600)
    assert settings.sanitizer_patterns == list(DEFAULT_SANITIZER_PATTERNS)
    assert (settings.lease_seconds, settings.max_attempts, settings.queue_type) == (30.0, 3, "quorum")
    assert settings.check_consumers is True and settings.signing_secret is None


def test_environment_fills_what_the_arguments_leave_out(monkeypatch, tmp_path):
    monkeypatch.setenv("JOBRUNTIME_HOME", str(tmp_path))
    monkeypatch.setenv("JOBRUNTIME_BROKER_URL", "amqp://env//")
    monkeypatch.setenv("JOBRUNTIME_LEASE_SECONDS", "2.5")
    monkeypatch.setenv("JOBRUNTIME_MAX_ATTEMPTS", "5")
    monkeypatch.setenv("JOBRUNTIME_CHECK_CONSUMERS", "off")
    monkeypatch.setenv("JOBRUNTIME_PLUGIN_JOB_MODULES", '["acme.jobs"]')
    monkeypatch.setenv("JOBRUNTIME_SANITIZER_PATTERNS", '[["secret=\\\\S+", "secret={replacement}"]]')
    settings = Settings(broker_url="amqp://argument//")
    assert settings.broker_url == "amqp://argument//"
    assert settings.home == tmp_path and settings.effective_database_url == f"sqlite:///{tmp_path}/jobruntime.db"
    assert (settings.lease_seconds, settings.max_attempts, settings.check_consumers) == (2.5, 5, False)
    assert settings.plugin_job_modules == ["acme.jobs"]
    assert settings.sanitizer_patterns == [("secret=\\S+", "secret={replacement}")]


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("LEASE_SECONDS", "abc", "expected a number, got 'abc'"),
        ("LEASE_SECONDS", "0", "must be greater than 0, got 0.0"),
        ("MAX_ATTEMPTS", "1.5", "expected a whole number, got 1.5"),
        ("PREFETCH", "0", "must be at least 1, got 0"),
        ("TIME_LIMIT", "inf", "expected a finite number, got inf"),
        ("SOFT_TIME_LIMIT", "nan", "expected a finite number, got nan"),
        ("TIME_LIMIT", str(MAX_TIME_LIMIT + 1), f"must be at most {MAX_TIME_LIMIT}, got {MAX_TIME_LIMIT + 1}"),
        ("LOG_FLUSH_INTERVAL", "-1", "must be at least 0, got -1.0"),
        ("QUEUE_TYPE", "stream", "expected one of quorum, classic, got 'stream'"),
        ("CHECK_CONSUMERS", "maybe", "expected true or false, got 'maybe'"),
        ("PLUGIN_JOB_MODULES", "acme.jobs", "expected a JSON list"),
        ("PLUGIN_JOB_MODULES", '{"a": 1}', "expected a list"),
        ("SANITIZER_PATTERNS", '[["only a regex"]]', "each pattern must be a [regex, replacement] pair"),
    ],
)
def test_a_bad_value_names_its_environment_variable(monkeypatch, variable, value, problem):
    monkeypatch.setenv(f"JOBRUNTIME_{variable}", value)
    with pytest.raises(InvalidSetting) as raised:
        Settings()
    assert str(raised.value).startswith(f"Invalid setting JOBRUNTIME_{variable}: {problem}")
    assert raised.value.variable == f"JOBRUNTIME_{variable}"


def test_arguments_are_checked_too():
    with pytest.raises(InvalidSetting, match="JOBRUNTIME_MAX_ATTEMPTS: expected a number, got True"):
        Settings(max_attempts=True)
    with pytest.raises(InvalidSetting, match="JOBRUNTIME_BROKER_URL: expected text, got 5"):
        Settings(broker_url=5)


def test_replace_derives_a_checked_copy():
    settings = Settings(lease_seconds=10)
    derived = settings.replace(lease_seconds="4", signing_secret="s3cret")
    assert (derived.lease_seconds, derived.signing_secret) == (4.0, "s3cret")
    assert settings.lease_seconds == 10.0 and settings.signing_secret is None
    with pytest.raises(InvalidSetting, match="JOBRUNTIME_LEASE_SECONDS"):
        settings.replace(lease_seconds=-1)


def test_settings_are_frozen_and_keep_the_secret_out_of_their_repr():
    settings = Settings(signing_secret="s3cret")
    assert "s3cret" not in repr(settings)
    with pytest.raises(AttributeError):
        settings.lease_seconds = 1


def test_files_are_stored_under_home_unless_a_storage_url_is_set(tmp_path, monkeypatch):
    monkeypatch.delenv("JOBRUNTIME_STORAGE_URL", raising=False)
    monkeypatch.delenv("JOBRUNTIME_MAX_UPLOAD_BYTES", raising=False)
    settings = Settings(home=tmp_path)
    assert settings.effective_storage_url == (tmp_path / "files").as_uri()
    assert settings.max_upload_bytes == 100 * 1024 * 1024
    assert Settings(storage_url="s3://bucket/prefix").effective_storage_url == "s3://bucket/prefix"


@pytest.mark.parametrize("variable, value, problem", [
    ("STORAGE_URL", "http://bucket", "expected file:///<directory> or s3://<bucket>[/<prefix>], got 'http://bucket'"),
    ("STORAGE_URL", "s3:///no-bucket", "expected file:///<directory> or s3://<bucket>[/<prefix>]"),
    ("MAX_UPLOAD_BYTES", "0", "must be at least 1, got 0"),
])
def test_a_bad_storage_setting_names_its_environment_variable(monkeypatch, variable, value, problem):
    monkeypatch.setenv(f"JOBRUNTIME_{variable}", value)
    with pytest.raises(InvalidSetting, match=f"^Invalid setting JOBRUNTIME_{variable}: ") as caught:
        Settings()
    assert problem in str(caught.value)
