"""Hostile run requests: the parser refuses each with its own reason, and a worker answers each and lives on."""

from __future__ import annotations

import json
import random
import time
import uuid

import pytest

from jobruntime.bus.broker import Bus
from jobruntime.bus.messages import MalformedMessage, RunRequest
from jobruntime.bus.topology import REASON_HEADER
from jobruntime.core.limits import REASON_LIMIT
from tests.bus_support import child_pids, running_worker, wait_for_result
from tests.rabbit import DeadLetterTap
from tests.test_worker import _dead_letter_with, publish, stack  # noqa: F401 - the worker stack fixture

BODIES = 10_000
MAX_BYTES = 64 * 1024  # small, so the size refusal is reached too
FIELDS = ("version", "job", "data", "files", "commit", "task_queue", "job_result_id", "requested_by", "token",
          "signature", "schedule", "profile", "client_address", "requested_at", "bogus")
TEXTS = ("local/a/B", "plugins/x.y/Z", "git/r/m/C", "local/../etc/passwd", "local//B", str(uuid.uuid4()),
         "2024-01-01T00:00:00", "2024-01-01T00:00:00Z", "true", "", "\x00", "\ud800", "s3://b/k", "file:///x",
         "ftp://x", "a" * 300, "é✓", "0" * 64, "x\ny")
NUMBERS = (0, -1, 1, 2, 2**63, -(2**63) - 1, 0.5, 1e308, float("nan"), float("inf"), -float("inf"), 10**50)
TOKENS = (b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999", b"true", b"null", b"0", b'"x"', b"[]", b"{}")


class _Bodies:
    """Hostile run-request bodies from a fixed seed: the same ten thousand on every run."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)

    def scalar(self):
        pick = self.random.random()
        if pick < 0.15:
            return None
        if pick < 0.3:
            return self.random.random() < 0.5
        if pick < 0.55:
            return self.random.choice(NUMBERS)
        if pick < 0.8:
            return self.random.choice(TEXTS)
        return "".join(chr(self.random.randint(0, 0x2FFF)) for _ in range(self.random.randint(0, 12)))

    def value(self, depth: int = 0):
        pick = self.random.random()
        if depth > 3 or pick < 0.6:
            return self.scalar()
        if pick < 0.8:
            return [self.value(depth + 1) for _ in range(self.random.randint(0, 4))]
        return {str(self.scalar()): self.value(depth + 1) for _ in range(self.random.randint(0, 4))}

    def request(self) -> dict:
        body = {"job": self.random.choice(TEXTS[:4]), "requested_by": "alice"}
        for field in self.random.sample(FIELDS, self.random.choice((0, 1, 1, 2, 3, len(FIELDS)))):
            if field == "files" and self.random.random() < 0.5:
                body[field] = {"f": {"url": self.random.choice(TEXTS), "name": self.random.choice(TEXTS),
                                     "size": self.random.choice(NUMBERS), "sha256": self.random.choice(TEXTS)}}
            else:
                body[field] = self.value()
        return body

    @staticmethod
    def encoded(value) -> bytes:
        return json.dumps(value, allow_nan=True, ensure_ascii=False).encode("utf-8", "surrogatepass")

    def body(self) -> bytes:
        kind = self.random.randrange(8)
        if kind == 0:
            return self.random.randbytes(self.random.randint(0, 200))
        if kind == 1:
            return self.encoded(self.value())
        if kind == 2:
            return self.random.choice(TOKENS)
        if kind == 3:  # a request with bytes cut out, spliced in or changed
            body = bytearray(self.encoded(self.request()))
            at = self.random.randint(0, len(body))
            body[at:at + self.random.randint(0, 8)] = self.random.randbytes(self.random.randint(0, 8))
            return bytes(body)
        if kind == 4:
            depth = self.random.choice((65, 1000, 30_000))
            return b'{"job": "local/a/B", "requested_by": "a", "data": {"x": ' + b"[" * depth + b"]" * depth + b"}}"
        if kind == 5:
            digits = b"9" * self.random.randint(4000, 5000)
            return b'{"job": "local/a/B", "requested_by": "a", "version": ' + digits + b"}"
        if kind == 6 and self.random.random() < 0.1:
            return self.encoded({**self.request(), "data": {"blob": "b" * MAX_BYTES}})
        return self.encoded(self.request())


def test_the_parser_answers_every_hostile_body_with_a_specific_refusal_or_a_request():
    generator = _Bodies(seed=20261205)
    started = time.monotonic()
    outcomes = {"refused": 0, "accepted": 0, "too large": 0}
    for _ in range(BODIES):
        body = generator.body()
        try:
            request = RunRequest.parse(body, max_bytes=MAX_BYTES)
        except MalformedMessage as exc:
            assert exc.reason.strip() and len(exc.reason) <= REASON_LIMIT and exc.reason == str(exc), body[:200]
            if len(body) > MAX_BYTES:
                assert exc.reason.startswith(f"The request is {len(body)} bytes"), body[:200]
                outcomes["too large"] += 1
            outcomes["refused"] += 1
            continue
        assert len(body) <= MAX_BYTES
        assert RunRequest.parse(request.to_json()) == request, body[:200]  # what a worker accepts it can publish
        outcomes["accepted"] += 1
    assert sum((outcomes["refused"], outcomes["accepted"])) == BODIES
    assert outcomes["accepted"] > 100 and outcomes["too large"] > 10  # the generator reaches every outcome
    assert time.monotonic() - started < 60


# Bodies a worker must refuse, each with the reason it must give. MARK becomes a unique marker the
# dead letter keeps (as the requester, where it changes nothing else); a body without it gets the
# marker appended, which makes it invalid JSON whatever it was.
HOSTILE = {
    b"": "Invalid JSON",
    b"null": "Invalid JSON",
    b"\xff\xfe\x00{": "Message body is not UTF-8 text",
    "{}".encode("utf-16"): "Message body is not UTF-8 text",
    b"[" * 100_000: "The JSON is nested more than 64 levels deep",
    b'{"job": "local/a/B", "requested_by": "MARK", "n": ' + b"9" * 5000 + b"}":
        "A number in the request cannot be read",
    b'{"job": "local/a/B", "requested_by": "MARK", "data": {"v": NaN}}': "data.v is NaN, which is not a finite",
    b'{"job": "local/a/B", "requested_by": "MARK", "data": {"x": ' + b"[" * 5000 + b"]" * 5000 + b"}}":
        "The JSON is nested more than 64 levels deep",
    b'{"job": "local/a/B", "requested_by": "MARK", "k\\u0000": 1}': "A key in the request contains a NUL",
    b'{"job": "local/a/B", "requested_by": "MARK", "data": {"\\ud800": 1}}': "A key in data contains a lone",
    b'{"version": 2, "job": "local/a/B", "requested_by": "MARK"}': "Unsupported message version 2",
    b'{"job": "local/a/B", "requested_by": "MARK", "commit": "true"}': "commit: Input should be a valid boolean",
    b'{"job": 5, "requested_by": "MARK"}': "job: Input should be a valid string",
    b'{"job": "local/../../etc/B", "requested_by": "MARK"}': "job: must be a class path",
    b'{"job": "local/a/B", "requested_by": "MARK", "data": []}': "data: Input should be a valid dictionary",
    b'{"job": "local/a/B", "requested_by": "MARK", "schedule": {"every": 1}}': "schedule: scheduled runs are not",
    b'{"job": "local/a/B", "requested_by": "MARK", "files": {"f": {"url": "ftp://x"}}}': "files.f.url: must be",
    b'{"job": "local/a/B", "requested_by": "MARK", "data": "' + b"d" * (1024 * 1024) + b'"}': "The request is ",
    b'{"job": "local/a/B", "requested_by": "MARK", "job_result_id": "not-a-uuid"}': "job_result_id: Input should",
}


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_worker_answers_every_hostile_body_with_its_reason_and_keeps_its_processes(stack):  # noqa: F811
    marked = []
    for body, reason in HOSTILE.items():
        marker = f"hostile{uuid.uuid4().hex}".encode()
        marked.append((marker, body.replace(b"MARK", marker) if b"MARK" in body else body + b" " + marker, reason))
    tap = DeadLetterTap()
    with running_worker(stack.env) as worker:
        processes = child_pids(worker.pid)
        with Bus(stack.settings) as bus:
            for marker, body, _reason in marked:
                bus.publish_run(body, stack.queue, message_id=marker.decode())
        answers = {marker: _dead_letter_with(tap, marker, timeout=60) for marker, _body, _reason in marked}
        follow_up = publish(stack, "local/bus_jobs/Quick")
        assert wait_for_result(stack.runtime, follow_up.job_result_id, timeout=60).status == "completed"
        assert child_pids(worker.pid) == processes
    tap.close()
    given = {marker: answer.headers[REASON_HEADER] if answer else "" for marker, answer in answers.items()}
    assert [(reason, given[marker]) for marker, _body, reason in marked if not given[marker].startswith(reason)] == []
