"""The wire contract: run requests are validated field by field, events and routing keys are fixed."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from pydantic import ValidationError

from jobruntime.bus.messages import (
    ERROR_ROUTING_KEY,
    OUTPUT_LIMIT,
    ErrorEvent,
    LogEvent,
    LogEventEntry,
    MalformedMessage,
    ResultEvent,
    RunRequest,
    log_routing_key,
    message_schema,
    result_routing_key,
)

DIGEST = "ab" * 32
NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc)


def body(**fields) -> bytes:
    message = {"job": "local/basic/PassingJob", "requested_by": "alice", **fields}
    return json.dumps(message).encode()


def reason(raw: bytes | str) -> str:
    with pytest.raises(MalformedMessage) as caught:
        RunRequest.parse(raw)
    return str(caught.value)


def test_minimal_request_gets_version_id_and_utc_request_time():
    request = RunRequest.parse(body())
    assert request.version == 1
    assert isinstance(request.job_result_id, uuid.UUID)
    assert request.requested_at.tzinfo == dt.timezone.utc
    assert request.data == {} and request.files == {}
    assert request.commit is None and request.profile is False


def test_each_request_gets_its_own_job_result_id():
    assert RunRequest.parse(body()).job_result_id != RunRequest.parse(body()).job_result_id


def test_publisher_chosen_job_result_id_is_kept():
    chosen = uuid.uuid4()
    assert RunRequest.parse(body(job_result_id=str(chosen))).job_result_id == chosen


def test_plugin_class_path_is_accepted():
    assert RunRequest.parse(body(job="plugins/my_plugin.jobs/Backup")).job == "plugins/my_plugin.jobs/Backup"


def test_job_record_uuid_is_accepted_in_canonical_form():
    record_id = uuid.uuid4()
    request = RunRequest.parse(body(job=str(record_id).upper()))
    assert request.job == str(record_id)
    assert request.job_record_id == record_id


def test_class_path_has_no_job_record_id():
    assert RunRequest.parse(body()).job_record_id is None


def test_job_that_is_neither_class_path_nor_uuid_is_refused():
    assert reason(body(job="basic.PassingJob")) == (
        "job: must be a class path (local/<module>/<Class> or plugins/<module.path>/<Class>)"
        " or a Job record UUID, not 'basic.PassingJob'"
    )


def test_invalid_json_reports_the_decoder_position():
    assert reason(b'{"job": ') == "Invalid JSON at line 1 column 9 (char 8): Expecting value"


def test_body_that_is_not_utf8_is_refused():
    assert reason(b"\xff{}").startswith("Message body is not UTF-8 text")


def test_json_that_is_not_an_object_is_refused():
    assert reason(b"[1, 2]") == "A run request must be a JSON object, not an array"


def test_unknown_version_is_refused_by_number():
    assert reason(body(version=7)) == "Unsupported message version 7; this worker understands version 1"


def test_version_given_as_string_is_not_version_one():
    assert reason(body(version="1")) == 'Unsupported message version "1"; this worker understands version 1'


def test_every_field_error_is_reported_together():
    assert reason(body(commit="maybe", profile=[], requested_by="")) == (
        "commit: Input should be a valid boolean; "
        "requested_by: String should have at least 1 character; "
        "profile: Input should be a valid boolean"
    )


@pytest.mark.parametrize("value", ['"yes"', "1", '"true"'])
def test_commit_must_be_a_json_boolean_or_null(value):
    text = json.dumps({"job": "local/basic/PassingJob", "requested_by": "alice"})[:-1] + f', "commit": {value}}}'
    assert reason(text) == "commit: Input should be a valid boolean"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ('{"x": NaN}', "data.x is NaN, which is not a finite JSON number"),
        ('{"x": [1, -Infinity]}', "data.x[1] is -Infinity, which is not a finite JSON number"),
        ('{"x": 1e999}', "data.x is 1e999, which is not a finite JSON number"),
        ('{"x\\u0000": 1}', "A key in data contains a NUL character, which cannot be stored"),
        ('{"x": "a\\u0000b"}', "data.x contains a NUL character, which cannot be stored"),
        ("{\"x\": " + "[" * 70 + "]" * 70 + "}", "data is nested more than 64 levels deep"),
    ],
)
def test_input_that_cannot_be_stored_as_json_is_refused_with_the_run_identified(data, expected):
    job_result_id = uuid.uuid4()
    text = json.dumps({"job": "local/basic/PassingJob", "requested_by": "alice",
                       "job_result_id": str(job_result_id)})[:-1] + f', "data": {data}}}'
    with pytest.raises(MalformedMessage) as caught:
        RunRequest.parse(text)
    assert (caught.value.reason, caught.value.job_result_id) == (expected, job_result_id)


def test_a_nul_character_in_a_field_is_refused_and_such_a_job_name_is_not_trusted():
    with pytest.raises(MalformedMessage) as caught:
        RunRequest.parse(json.dumps({"job": "local/basic/Pass\x00ingJob", "requested_by": "alice"}))
    assert (caught.value.reason, caught.value.job) == ("job contains a NUL character, which cannot be stored", None)


def test_an_integer_too_long_to_read_is_refused():
    text = '{"job": "local/basic/PassingJob", "requested_by": "alice", "data": {"x": ' + "9" * 5000 + "}}"
    assert reason(text).startswith("A number in the request cannot be read: ")


def test_json_nested_past_the_interpreters_limit_is_refused():
    assert reason(b"[" * 100000 + b"]" * 100000) == "The JSON is nested more than 64 levels deep"


def test_missing_requested_by_is_refused():
    assert reason(json.dumps({"job": "local/basic/PassingJob"})) == "requested_by: Field required"


def test_requested_by_longer_than_a_username_is_refused():
    assert reason(body(requested_by="a" * 151)) == "requested_by: String should have at most 150 characters"


def test_unknown_field_is_refused():
    assert reason(body(priority=5)) == "priority: Extra inputs are not permitted"


def test_empty_task_queue_is_refused():
    assert reason(body(task_queue="")) == "task_queue: String should have at least 1 character"


def test_task_queue_longer_than_100_characters_is_refused():
    assert reason(body(task_queue="q" * 101)) == "task_queue: String should have at most 100 characters"


def test_schedule_is_refused_until_scheduling_exists():
    assert reason(body(schedule={"interval": "daily"})) == (
        "schedule: scheduled runs are not supported yet; send the request without a schedule to run it now"
    )


def test_null_schedule_is_accepted():
    assert RunRequest.parse(body(schedule=None)).schedule is None


def test_request_time_without_time_zone_is_refused():
    assert reason(body(requested_at="2024-05-01T12:00:00")) == "requested_at: Input should have timezone info"


def test_request_time_is_normalized_to_utc():
    request = RunRequest.parse(body(requested_at="2024-05-01T14:00:00+02:00"))
    assert request.requested_at == NOW and request.requested_at.tzinfo == dt.timezone.utc


def test_file_reference_is_accepted_and_digest_lower_cased():
    ref = {"url": "s3://uploads/abc/config.txt", "name": "config.txt", "size": 12, "sha256": DIGEST.upper()}
    request = RunRequest.parse(body(files={"config": ref}))
    assert request.files["config"].sha256 == DIGEST
    assert request.files["config"].url == "s3://uploads/abc/config.txt"


def test_file_reference_may_point_at_the_local_store():
    ref = {"url": "file:///var/jobruntime/files/abc", "name": "a.txt", "size": 0, "sha256": DIGEST}
    assert RunRequest.parse(body(files={"config": ref})).files["config"].size == 0


@pytest.mark.parametrize("url", ["https://example.com/a", "s3://bucket-only", "s3:///key", "config.txt"])
def test_file_reference_outside_the_stores_is_refused(url):
    ref = {"url": url, "name": "a.txt", "size": 1, "sha256": DIGEST}
    assert reason(body(files={"config": ref})) == (
        f"files.config.url: must be an s3://bucket/key or file:///path URL, not {url!r}"
    )


def test_file_reference_with_bad_digest_and_negative_size_reports_both():
    ref = {"url": "s3://b/k", "name": "a.txt", "size": -1, "sha256": "xyz"}
    assert reason(body(files={"config": ref})) == (
        "files.config.size: Input should be greater than or equal to 0; "
        "files.config.sha256: must be the 64 hexadecimal characters of the file's SHA-256"
    )


def test_malformed_message_keeps_a_well_formed_job_result_id_and_job():
    chosen = uuid.uuid4()
    with pytest.raises(MalformedMessage) as caught:
        RunRequest.parse(body(job_result_id=str(chosen), commit="maybe"))
    assert caught.value.job_result_id == chosen
    assert caught.value.job == "local/basic/PassingJob"


def test_malformed_message_drops_an_ill_formed_job_result_id_and_job():
    with pytest.raises(MalformedMessage) as caught:
        RunRequest.parse(body(job_result_id="run-1", job="nonsense"))
    assert caught.value.job_result_id is None and caught.value.job is None


def test_unsupported_version_still_identifies_the_run():
    chosen = uuid.uuid4()
    with pytest.raises(MalformedMessage) as caught:
        RunRequest.parse(body(version=2, job_result_id=str(chosen)))
    assert caught.value.job_result_id == chosen


def test_malformed_message_is_a_value_error():
    assert issubclass(MalformedMessage, ValueError)


def test_request_is_immutable():
    request = RunRequest.parse(body())
    with pytest.raises(ValidationError):
        request.commit = True


def test_to_json_round_trips():
    request = RunRequest.parse(body(data={"site": "Branch 7"}, commit=True, token="secret-key"))
    assert RunRequest.parse(request.to_json()) == request


def test_to_json_is_compact_with_sorted_keys():
    text = RunRequest.parse(body(data={"b": 1, "a": 2})).to_json().decode()
    assert ", " not in text and ": " not in text
    assert text.index('"a":2') < text.index('"b":1')
    assert list(json.loads(text)) == sorted(json.loads(text))


def test_stored_form_leaves_out_the_credentials():
    stored = RunRequest.parse(body(token="secret-key", signature="ff" * 32)).stored()
    assert "token" not in stored and "signature" not in stored
    assert stored["requested_by"] == "alice"
    json.dumps(stored)


def test_canonical_bytes_ignore_credentials():
    plain = RunRequest.parse(body(job_result_id=str(uuid.uuid4()), requested_at=NOW.isoformat()))
    with_token = plain.model_copy(update={"token": "secret-key", "signature": "ff"})
    assert plain.canonical_bytes() == with_token.canonical_bytes()
    assert json.loads(plain.canonical_bytes()) == plain.stored()


def test_message_schema_describes_the_run_request():
    schema = message_schema()
    assert schema["title"] == "RunRequest"
    assert set(schema["required"]) == {"job", "requested_by"}
    assert schema["additionalProperties"] is False
    assert "FileRef" in schema["$defs"]


def result_event(**fields) -> ResultEvent:
    values = {"job_result_id": uuid.uuid4(), "job": "local/basic/PassingJob", "status": "completed", "created": NOW}
    return ResultEvent(**{**values, **fields})


def test_long_output_is_cut_to_the_limit_with_an_ellipsis():
    output = result_event(output="x" * 5000).output
    assert len(output) == OUTPUT_LIMIT and output.endswith("…")


def test_output_at_the_limit_is_kept_whole():
    assert result_event(output="x" * OUTPUT_LIMIT).output == "x" * OUTPUT_LIMIT


def test_result_event_round_trips_through_json():
    event = result_event(log_counts={"success": 3}, duration=1.5, user="alice", output="done")
    assert ResultEvent.model_validate_json(event.to_json()) == event
    assert json.loads(event.to_json())["event"] == "job.result"


def test_result_event_routes_by_status():
    assert result_event(status="errored").routing_key == "job.result.errored"


def test_result_routing_key_names_the_status():
    assert result_routing_key("running") == "job.result.running"


def test_result_routing_key_refuses_an_unknown_status():
    with pytest.raises(ValueError, match="Unknown job status 'done'; expected one of: pending, running"):
        result_routing_key("done")


def test_log_routing_key_names_the_level():
    assert log_routing_key("warning") == "job.log.warning"


def test_log_routing_key_refuses_an_unknown_level():
    with pytest.raises(ValueError, match="Unknown log level 'debug'"):
        log_routing_key("debug")


def entry(level: str, seq: int = 0) -> LogEventEntry:
    return LogEventEntry(seq=seq, created=NOW, grouping="run", log_level=level, message="hello")


def test_log_event_batches_entries_of_its_level():
    event = LogEvent(job_result_id=uuid.uuid4(), level="failure", entries=[entry("failure", 0), entry("failure", 1)])
    assert event.routing_key == "job.log.failure"
    assert LogEvent.model_validate_json(event.to_json()) == event


def test_log_event_refuses_entries_of_another_level():
    with pytest.raises(ValidationError, match="a log event of level info cannot carry success entries"):
        LogEvent(job_result_id=uuid.uuid4(), level="info", entries=[entry("info"), entry("success")])


def test_error_event_reports_a_malformed_message_and_its_queue():
    chosen = uuid.uuid4()
    error = MalformedMessage("commit: bad", job_result_id=chosen, job="local/basic/PassingJob")
    event = ErrorEvent.for_malformed(error, queue="default")
    assert (event.reason, event.job_result_id, event.job, event.queue) == (
        "commit: bad", chosen, "local/basic/PassingJob", "default"
    )
    assert event.routing_key == ERROR_ROUTING_KEY == "job.error"


def test_events_ignore_fields_added_by_newer_workers():
    raw = json.loads(result_event().to_json())
    raw["added_later"] = True
    assert ResultEvent.model_validate(raw).status == "completed"
