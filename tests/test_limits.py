"""Size limits on the run path: what a request, a log line, an output or a reason may cost at most."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import pytest

from jobruntime.bus.messages import OUTPUT_LIMIT, MalformedMessage, RunRequest
from jobruntime.core.limits import REASON_LIMIT, truncate
from jobruntime.run.events import log_event_rows
from jobruntime.run.log import LogEntry
from jobruntime.testing import run_job_for_testing
from tests.job_modules import basic
from tests.job_modules.variables_job import EveryVariable

MIB = 1024 * 1024


def test_a_body_over_the_limit_is_refused_before_it_is_read():
    body = b'{"job": "local/a/B", "requested_by": "alice", "data": {"x": "' + b"x" * 2000 + b'"}}'
    with pytest.raises(MalformedMessage) as refused:
        RunRequest.parse(body + b"not json either", max_bytes=1000)
    assert refused.value.reason == (
        f"The request is {len(body) + 15} bytes, more than the 1000 workers take "
        "(JOBRUNTIME_MAX_REQUEST_BYTES); send large inputs as uploaded files"
    )
    assert RunRequest.parse(body, max_bytes=len(body)).data == {"x": "x" * 2000}


def test_a_request_with_thousands_of_problems_gets_a_reason_of_bounded_length():
    files = {f"f{index}": {"url": "ftp://nowhere"} for index in range(5000)}
    body = json.dumps({"job": "local/a/B", "requested_by": "alice", "files": files})
    with pytest.raises(MalformedMessage) as refused:
        RunRequest.parse(body)
    assert len(refused.value.reason) == REASON_LIMIT
    assert refused.value.reason.startswith("files.f0.url: must be an s3://bucket/key")
    assert refused.value.reason.endswith("characters in all]")


def test_a_log_line_and_an_output_past_the_stored_limit_keep_their_start_and_say_they_were_cut(runtime):
    result = run_job_for_testing(basic.LoudJob, runtime=runtime)
    (entry,) = result.logs
    assert len(entry.message) == MIB
    assert entry.message == truncate("y" * (3 * MIB // 2), MIB)
    assert entry.message.endswith(f"… [truncated, {3 * MIB // 2} characters in all]")
    assert len(result.data["output"]) == MIB and result.data["output"].startswith("\nzzz")
    assert result.data["output"].endswith(f"… [truncated, {3 * MIB // 2 + 1} characters in all]")


def test_a_log_event_carries_a_long_message_cut_to_the_event_limit():
    entry = LogEntry(uuid.uuid4(), 1, "info", "run", "m" * MIB, datetime.now(timezone.utc), None, None, None, None)
    (row,) = log_event_rows([entry])
    (announced,) = row["body"]["entries"]
    assert len(announced["message"]) == OUTPUT_LIMIT
    assert announced["message"].endswith(f"… [truncated, {MIB} characters in all]")


def test_a_200000_item_in_lookup_is_not_echoed_into_the_reason_or_the_log(runtime):
    names = [f"status-{index:06d}" for index in range(200_000)]
    result = run_job_for_testing(EveryVariable, data={"count": 1, "site_name": "A", "flag": True,
                                                      "status": {"name__in": names}}, runtime=runtime)
    assert result.status == "errored"
    # SQLite runs the lookup and finds nothing; PostgreSQL refuses that many parameters. Both quote it shortened.
    assert result.reason.startswith("Error initializing job: status: ")
    assert '{"name__in": ["status-000000", ' in result.reason
    assert "… [truncated, 3400014 characters in all]" in result.reason
    assert len(result.reason) < 400
    (entry,) = result.logs
    assert len(entry.message) < 1000
