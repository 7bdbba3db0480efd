"""What the bus reveals: no credential in a dead letter, and broker users that each see only their part."""

from __future__ import annotations

import json
import uuid

import pytest

from jobruntime.bus import Bus
from jobruntime.exposure.credentials import strip_credentials, token_fingerprint
from jobruntime.topology import REASON_HEADER
from tests.bus_support import running_worker
from tests.rabbit import DeadLetterTap
from tests.test_worker import _dead_letter_with, stack  # noqa: F401 - the worker stack fixture


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_dead_lettered_request_keeps_a_fingerprint_of_its_token_and_never_the_token(stack):  # noqa: F811
    unknown_job = {"job": "local/bus_jobs/Nope", "job_result_id": str(uuid.uuid4()), "requested_by": "bob",
                   "token": stack.bob_token}
    malformed = {"job": "local/bus_jobs/Quick", "job_result_id": str(uuid.uuid4()), "requested_by": "bob",
                 "token": stack.bob_token, "signature": "ab" * 32, "commit": "true"}
    tap = DeadLetterTap()
    with running_worker(stack.env), Bus(stack.settings) as bus:
        for index, body in enumerate((unknown_job, malformed)):
            bus.publish_run(json.dumps(body).encode(), stack.queue, message_id=f"secret-{index}")
        parked = [_dead_letter_with(tap, body["job_result_id"].encode()) for body in (unknown_job, malformed)]
    tap.close()
    assert all(message is not None for message in parked)
    assert all(stack.bob_token.encode() not in message.body for message in parked)
    kept = [json.loads(message.body) for message in parked]
    assert kept[0] == {**{key: value for key, value in unknown_job.items() if key != "token"},
                       "token_sha256_prefix": token_fingerprint(stack.bob_token)}
    assert (kept[1]["token_sha256_prefix"], kept[1]["signature_sha256_prefix"]) == (
        token_fingerprint(stack.bob_token), token_fingerprint("ab" * 32))
    assert "token" not in kept[1] and "signature" not in kept[1]
    assert parked[1].headers[REASON_HEADER] == "commit: Input should be a valid boolean"


@pytest.mark.parametrize(
    "body",
    [
        b'{"job": "local/a/B", "token": "0123456789abcdef", "data": {',  # cut short
        b'{"token": "0123456789abcdef", "x": NaN, "y": 1e999999}',  # JSON with numbers Python cannot read back
        b'\xff\xfe{"token":"0123456789abcdef"}',  # not UTF-8
        b'[{"token" : "0123456789abcdef"}]',  # not an object
        b'{"token": "0123456789abcdef", "token": "0123456789abcdef"}',  # the key twice
        b'{"\\u0074oken": "0123456789abcdef"}',  # the key escaped
        b'{"job": "x", "token": "01234567\\"89abcdef"}',  # an escaped quote in the token
        b'{"job": "x", "token": "0123456789abcdef',  # cut inside the token
    ],
    ids=["cut", "nan", "not-utf8", "array", "twice", "escaped-key", "escaped-quote", "cut-token"],
)
def test_no_kept_body_holds_the_token_however_broken_the_body_is(body):
    kept = strip_credentials(body)
    assert b"0123456789abcdef" not in kept and b"89abcdef" not in kept
    assert b"token_sha256_prefix" in kept


def test_a_body_without_credentials_is_kept_byte_for_byte():
    body = b'{"job": "local/a/B",  "requested_by": "alice"}'
    assert strip_credentials(body) == body
