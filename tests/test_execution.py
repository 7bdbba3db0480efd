"""The run pipeline's outcome table, against SQLite and PostgreSQL."""

from __future__ import annotations

import pstats
import tempfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from jobruntime.models import Job as JobRecord
from jobruntime.models import JobResult, Site
from jobruntime.run.execution import REVERTED_AUTOMATICALLY, REVERTED_DUE_TO_ERROR
from jobruntime.testing import run_job_for_testing
from tests.job_modules import basic
from tests.job_modules.variables_job import EveryVariable


def site_names(runtime) -> set[str]:
    with runtime.session() as session:
        return set(session.scalars(select(Site.name)))


def entries(result) -> list[tuple[str, str, str]]:
    return [(entry.grouping, entry.log_level, entry.message) for entry in sorted(result.logs, key=lambda e: e.seq)]


def test_passing_job_commits_and_stores_output(runtime):
    result = run_job_for_testing(basic.PassingJob, runtime=runtime)
    assert result.status == "completed"
    assert result.data["output"] == "\nNice Roles!"
    assert "Passing Site" in site_names(runtime)
    assert entries(result) == [("run", "info", "Created a site")]
    assert result.logs[0].log_object == "Passing Site"
    assert result.logs[0].object_type == "dcim.site"
    assert result.started is not None and result.completed is not None
    assert result.log_info == 1


def test_dry_run_rolls_back_with_the_reference_message(runtime):
    result = run_job_for_testing(basic.PassingJob, commit=False, runtime=runtime)
    assert result.status == "completed"
    assert "Passing Site" not in site_names(runtime)
    assert entries(result)[-1] == ("run", "info", REVERTED_AUTOMATICALLY)


def test_log_failure_marks_failed_but_keeps_running_and_commits(runtime):
    result = run_job_for_testing(basic.FailingJob, runtime=runtime)
    assert result.status == "failed"
    assert "Failing Site" in site_names(runtime)
    assert entries(result) == [
        ("run", "failure", "Something is wrong"),
        ("run", "info", "still running after the failure"),
    ]


def test_failed_dry_run_rolls_back(runtime):
    result = run_job_for_testing(basic.FailingJob, commit=False, runtime=runtime)
    assert result.status == "failed"
    assert "Failing Site" not in site_names(runtime)
    assert entries(result)[-1] == ("run", "info", REVERTED_AUTOMATICALLY)


def test_exception_rolls_back_errors_and_skips_remaining_tests(runtime):
    result = run_job_for_testing(basic.ErroringJob, runtime=runtime)
    assert result.status == "errored"
    assert result.reason == "RuntimeError: boom"
    assert "Erroring Site" not in site_names(runtime)
    logged = entries(result)
    assert [level for _, level, _ in logged] == ["failure", "info"]
    assert logged[0][2].startswith("An exception occurred: `RuntimeError: boom`\n```\nTraceback")
    assert logged[1] == ("run", "info", REVERTED_DUE_TO_ERROR)


def test_read_only_job_never_commits_and_logs_no_revert_message(runtime):
    result = run_job_for_testing(basic.ReadOnlyJob, commit=True, runtime=runtime)
    assert result.status == "completed"
    assert "Read Only Site" not in site_names(runtime)
    assert entries(result) == [("run", "info", "commit=False")]


def test_read_only_exception_logs_only_the_failure(runtime):
    result = run_job_for_testing(basic.ReadOnlyErroringJob, runtime=runtime)
    assert result.status == "errored"
    assert [level for _, level, _ in entries(result)] == ["failure"]


def test_test_methods_run_in_declaration_order_then_inherited(runtime):
    result = run_job_for_testing(basic.InheritedTests, runtime=runtime)
    assert [(g, m) for g, _, m in entries(result)] == [
        ("test_mine", "mine"), ("test_zulu", "zulu"), ("test_alpha", "alpha"),
    ]
    assert result.data["output"] == "\nzulu output"


def test_post_run_runs_after_an_exception_and_follows_commit(runtime):
    result = run_job_for_testing(basic.PostRunJob, runtime=runtime)
    assert result.status == "errored"
    assert ("post_run", "info", "post_run sees failed=True") in entries(result)
    assert "Post Run Site" in site_names(runtime)
    assert result.data["output"] == "\npost run output"


def test_post_run_writes_are_rolled_back_on_a_dry_run(runtime):
    run_job_for_testing(basic.PostRunJob, commit=False, runtime=runtime)
    assert "Post Run Site" not in site_names(runtime)


def test_post_run_exception_errors_a_committed_run(runtime):
    result = run_job_for_testing(basic.PostRunErrorJob, runtime=runtime)
    assert result.status == "errored"
    assert "Before Post Run Error" in site_names(runtime)
    grouping, level, message = entries(result)[-1]
    assert (grouping, level) == ("post_run", "failure")
    assert message.startswith("An exception occurred during job post_run(): `ZeroDivisionError: post_run broke`")
    assert result.data["output"].startswith("\nrun output\nAn exception occurred during job post_run()")


def test_a_committed_run_stays_running_with_its_verdict_until_post_run_has_finished(runtime):
    result = run_job_for_testing(basic.PostRunWatchesItsRow, runtime=runtime)
    assert ("post_run", "info", "during post_run: running, verdict completed, completed None") in entries(result)
    assert (result.status, result.verdict) == ("completed", "completed")
    assert "Watched Post Run" in site_names(runtime)


def test_constructor_failure_errors_with_traceback(runtime):
    result = run_job_for_testing(basic.InitErrorJob, runtime=runtime)
    assert result.status == "errored"
    (grouping, level, message), = entries(result)
    assert (grouping, level) == ("initialization", "failure")
    assert message.startswith("Error initializing job:\n```\nTraceback") and "TypeError: cannot build" in message
    assert result.data is None


def test_time_limit_warning_when_hard_not_above_soft(runtime):
    result = run_job_for_testing(basic.LimitsWarningJob, runtime=runtime)
    assert entries(result)[0] == (
        "initialization",
        "warning",
        "The hard time limit of 5.0 seconds is less than or equal to the soft time limit of 10.0 seconds. "
        "This job will fail silently after 5.0 seconds.",
    )
    assert result.status == "completed"


def test_messages_object_and_output_are_sanitized(runtime):
    result = run_job_for_testing(basic.SecretLogger, runtime=runtime)
    logged = sorted(result.logs, key=lambda e: e.seq)
    assert logged[0].message == "Login with username (redacted) and password (redacted)"
    assert logged[1].message == "https://(redacted)@device.example.net"
    assert result.data["output"] == "\nfetched https://(redacted)@device.example.net"


def test_secrets_are_redacted_before_a_logged_object_is_cut_and_from_the_reason(runtime):
    result = run_job_for_testing(basic.LongSecrets, runtime=runtime)
    logged = sorted(result.logs, key=lambda e: e.seq)
    assert len(logged[0].log_object) == 200
    assert "Super" not in logged[0].log_object and logged[0].log_object.endswith(" https://(redacted")
    assert result.status == "errored"
    assert result.reason == "RuntimeError: login to https://(redacted)@10.0.0.1 failed, password is (redacted)"
    assert all("SuperSecret99" not in entry.message for entry in logged)


def test_device_and_api_credentials_are_redacted_from_log_and_exception_reason(runtime):
    result = run_job_for_testing(basic.DeviceSecrets, runtime=runtime)
    assert [entry.message for entry in result.logs if entry.grouping == "run"][0] == (
        "enable secret (redacted)\nsnmp-server community (redacted) RO"
    )
    assert result.status == "errored"
    assert result.reason == (
        "RuntimeError: API refused Authorization: Bearer (redacted); api_key=(redacted) password:(redacted)"
    )


@pytest.mark.parametrize("data", [[], "", 0, False])
def test_input_that_is_not_an_object_is_refused_even_when_empty(runtime, data):
    result = run_job_for_testing(basic.PassingJob, data=data, runtime=runtime)
    assert result.status == "errored"
    assert entries(result) == [
        ("initialization", "failure", "Error initializing job:\n```\ndata: Data should be a dictionary.\n```"),
    ]


def test_request_user_none_message_and_custom_results(runtime):
    result = run_job_for_testing(basic.RequestJob, username="alice", runtime=runtime)
    assert entries(result) == [("run", "info", "user=alice"), ("run", "success", "None")]
    assert result.data["custom"] == {"answer": 42}
    assert result.user.username == "alice"


def test_load_yaml_and_json_read_next_to_the_job_file(runtime):
    result = run_job_for_testing(basic.FileLoader, runtime=runtime)
    assert result.data["output"] == "\nhello world"


def test_log_lines_are_all_written_in_order_and_counted(runtime):
    result = run_job_for_testing(basic.ManyLines, runtime=runtime)
    assert [entry.message for entry in sorted(result.logs, key=lambda e: e.seq)] == [
        f"line {n}" for n in range(1234)
    ]
    assert result.log_info == 1234


def test_invalid_input_errors_before_run_with_every_problem_listed(runtime):
    result = run_job_for_testing(
        EveryVariable, data={"count": 7, "site_name": "lower", "address": "10.0.0.1/24", "bogus": 1}, runtime=runtime
    )
    assert result.status == "errored"
    (grouping, level, message), = entries(result)
    assert (grouping, level) == ("initialization", "failure")
    assert message.startswith("Error initializing job:\n```\n")
    assert result.reason.startswith("Error initializing job: site_name: Invalid value. Must match regex: ^[A-Z]; ")
    assert "; bogus: Job data contained an unknown property" in result.reason
    for expected in (
        "count: Ensure this value is less than or equal to 3.",
        "site_name: Invalid value. Must match regex: ^[A-Z]",
        "status: This field is required.",
        "address: This field requires an IP address without a mask.",
        "bogus: Job data contained an unknown property",
    ):
        assert expected in message


def test_valid_input_reaches_run_as_objects(runtime):
    result = run_job_for_testing(
        EveryVariable, data={"count": 0, "site_name": "Alpha", "status": {"slug": "active"}}, runtime=runtime
    )
    assert result.status == "completed", entries(result)
    assert entries(result)[0] == ("run", "info", "status=active count=0 flag=False")
    assert result.job_kwargs["data"] == {"count": 0, "site_name": "Alpha", "status": {"slug": "active"}}


def test_sensitive_job_input_is_never_stored(runtime):
    result = run_job_for_testing(basic.FailingJob, runtime=runtime)
    assert result.job_kwargs is None


def test_disabled_job_errors_with_the_reference_message(runtime):
    run_job_for_testing(basic.PassingJob, runtime=runtime)
    with runtime.session() as session:
        session.scalars(select(JobRecord)).one().enabled = False
        session.commit()
    from jobruntime.run.local import run_local

    result = run_local(runtime, basic.PassingJob.class_path(), job_class=basic.PassingJob)
    assert result.status == "errored"
    assert result.reason == "Job Passing job is not enabled to be run!"


def test_profile_writes_pstats_and_logs_its_path(runtime):
    result = run_job_for_testing(basic.PassingJob, runtime=runtime, profile=True)
    message = [entry.message for entry in result.logs if entry.message.startswith("Wrote profiling")][0]
    path = message.removeprefix("Wrote profiling information to ").removesuffix(".")
    assert path == str(Path(tempfile.gettempdir()) / f"nautobot-jobresult-{result.id}.pstats")
    assert pstats.Stats(path).total_calls > 0


def test_profile_is_also_found_under_the_documented_name(runtime):
    result = run_job_for_testing(basic.PassingJob, runtime=runtime, profile=True)
    documented = Path(tempfile.gettempdir()) / f"job-result-{result.id}.pstats"
    assert documented.resolve() == (Path(tempfile.gettempdir()) / f"nautobot-jobresult-{result.id}.pstats").resolve()
    assert pstats.Stats(str(documented)).total_calls > 0


def test_no_result_is_left_pending_or_running(runtime):
    for job in (basic.PassingJob, basic.ErroringJob, basic.InitErrorJob, basic.PostRunErrorJob):
        run_job_for_testing(job, runtime=runtime)
    with runtime.session() as session:
        open_runs = session.scalar(
            select(func.count()).select_from(JobResult).where(JobResult.status.in_(["pending", "running"]))
        )
    assert open_runs == 0


@pytest.mark.parametrize("job", [basic.PassingJob, basic.FailingJob])
def test_logs_survive_rollback(runtime, job):
    result = run_job_for_testing(job, commit=False, runtime=runtime)
    assert len(result.logs) >= 2


def test_time_limit_warning_prints_system_defaults_as_whole_seconds(runtime):
    class SoftOnly(basic.LimitsWarningJob):
        class Meta:
            name = "Soft only"
            soft_time_limit = 700

    result = run_job_for_testing(SoftOnly, runtime=runtime)
    assert entries(result)[0][2] == (
        "The hard time limit of 600 seconds is less than or equal to the soft time limit of 700.0 seconds. "
        "This job will fail silently after 600 seconds."
    )


def test_soft_time_limit_interrupts_a_local_run(runtime):
    from tests.job_modules.bus_jobs import Sleeper

    result = run_job_for_testing(Sleeper, data={"seconds": 5}, runtime=runtime)
    assert result.status == "errored"
    assert result.reason == "soft time limit (1 s) exceeded"
    assert ("run", "warning", "soft time limit reached, cleaning up") in entries(result)


def test_a_cancel_reaches_a_job_that_caught_its_soft_limit_and_carried_on():
    import threading
    import time

    from jobruntime.authoring.job import SoftTimeLimitExceeded
    from jobruntime.run.interrupts import Interrupter, RunCancelled

    interrupter, seen = Interrupter(), []
    with interrupter.armed(0.2):
        try:
            time.sleep(5)
        except SoftTimeLimitExceeded:
            seen.append("soft limit")
        threading.Timer(0.2, interrupter.interrupt, args=(RunCancelled("cancelled by carol"),)).start()
        try:
            time.sleep(5)
        except RunCancelled as exc:
            seen.append(str(exc))
    assert seen == ["soft limit", "cancelled by carol"]
