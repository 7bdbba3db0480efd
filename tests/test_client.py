"""The publisher side: following a run's events, and recording a run as pending before publishing it."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

from jobruntime.authoring.discovery import discover
from jobruntime.authoring.records import sync
from jobruntime.bus.broker import Bus, ReceivedEvent
from jobruntime.bus.messages import body_sha256
from jobruntime.client import Client, Follower, RunRejected
from jobruntime.core.settings import Settings
from jobruntime.models import JobResult
from jobruntime.run.events import result_event_row
from jobruntime.store.database import migrate
from jobruntime.testing import ensure_user
from tests.rabbit import AMQP_URL

pytestmark = pytest.mark.bus


class _Feed:
    """Events as a subscription hands them over, in order (no broker involved: this is the follower's logic)."""

    def __init__(self, *events: tuple[str, dict]) -> None:
        self.events = [ReceivedEvent(key, json.dumps(body).encode(), None) for key, body in events]

    def receive(self, timeout: float) -> ReceivedEvent | None:
        return self.events.pop(0) if self.events else None


def _result(job_result_id: uuid.UUID, status: str) -> dict:
    created = datetime.now(timezone.utc)
    return result_event_row({"id": job_result_id, "name": "local/a/A", "status": status, "created": created})["body"]


def test_a_follower_ignores_the_rejection_of_another_jobs_request_reusing_its_id():
    job_result_id = uuid.uuid4()
    feed = _Feed(
        ("job.error", {"job_result_id": str(job_result_id), "job": "local/b/B", "reason": "already belongs"}),
        ("job.result.completed", _result(job_result_id, "completed")),
    )
    assert Follower(feed, job_result_id, job="local/a/A").wait(timeout=5).status == "completed"


def test_a_follower_ends_with_the_rejection_of_its_own_request():
    job_result_id = uuid.uuid4()
    feed = _Feed(("job.error", {"job_result_id": str(job_result_id), "job": "local/a/A", "reason": "not found"}))
    with pytest.raises(RunRejected, match="not found"):
        Follower(feed, job_result_id, job="local/a/A").wait(timeout=5)


def test_a_follower_ignores_the_refusal_of_another_body_naming_its_run_and_ends_with_its_own():
    job_result_id = uuid.uuid4()
    mine, intruders = b'{"requested_by": "alice"}', b'{"requested_by": "mallory"}'

    def refusal(body: bytes, reason: str) -> tuple[str, dict]:
        return "job.error", {"job_result_id": str(job_result_id), "job": "local/a/A", "reason": reason,
                             "request_sha256": body_sha256(body)}

    feed = _Feed(refusal(intruders, "No credentials"), ("job.result.completed", _result(job_result_id, "completed")))
    assert Follower(feed, job_result_id, job="local/a/A", sent=mine).wait(timeout=5).status == "completed"
    with pytest.raises(RunRejected, match="Invalid token"):
        Follower(_Feed(refusal(mine, "Invalid token")), job_result_id, job="local/a/A", sent=mine).wait(timeout=5)


def test_a_follower_hands_log_entries_over_in_the_order_they_were_logged():
    job_result_id = uuid.uuid4()

    def batch(level: str, *seqs: int) -> tuple[str, dict]:
        entries = [{"seq": seq, "created": "2026-11-28T00:00:00Z", "grouping": "run", "log_level": level,
                    "message": f"m{seq}"} for seq in seqs]
        return f"job.log.{level}", {"job_result_id": str(job_result_id), "level": level, "entries": entries}

    feed = _Feed(batch("info", 1, 3), batch("warning", 2), batch("info", 5),
                 ("job.result.completed", _result(job_result_id, "completed")))
    shown: list[int] = []
    Follower(feed, job_result_id).wait(on_log=lambda entry: shown.append(entry.seq), timeout=5)
    assert shown == [1, 2, 3, 5]  # 4 never came: what arrived is handed over when the run ends


def test_a_follower_yields_each_event_once_when_the_broker_delivers_it_again():
    """An event the outbox published again after a crash arrives with its first ``message_id``: it is skipped."""
    job_result_id = uuid.uuid4()
    log = {"job_result_id": str(job_result_id), "level": "info", "entries": [
        {"seq": 1, "created": "2026-11-28T00:00:00Z", "grouping": "run", "log_level": "info", "message": "once"}]}
    published = [("job.result.running", _result(job_result_id, "running"), "event-1"),
                 ("job.log.info", log, "event-2"),
                 ("job.result.running", _result(job_result_id, "running"), "event-1"),
                 ("job.log.info", log, "event-2"),
                 ("job.result.completed", _result(job_result_id, "completed"), "event-3")]
    with Client(Settings(broker_url=AMQP_URL), username="alice") as client, client.follow(job_result_id) as follower:
        for routing_key, body, message_id in published:
            client.bus.publish_event(routing_key, body, message_id=message_id)
        events = [(event.event, getattr(event, "status", None)) for event in follower.events(timeout=30)]
    assert events == [("job.result", "running"), ("job.log", None), ("job.result", "completed")]


def test_publishing_the_same_request_again_records_it_pending_once(tmp_path):
    settings = Settings(broker_url="memory://", home=tmp_path, database_url=f"sqlite:///{tmp_path / 'c.db'}",
                        signing_secret="s", jobs_root=tmp_path / "jobs")
    with Client(settings, username="alice", record_pending=True) as client:
        migrate(client.runtime.engine)
        with client.runtime.session() as session:
            sync(session, discover(Path(__file__).parent / "job_modules"))
            session.commit()
        ensure_user(client.runtime, "alice")
        with Bus(settings) as bus:
            bus.declare_run_queues([settings.default_queue])
        request = client.request("local/basic/PassingJob")
        client.publish(request)
        client.publish(request)
        with client.runtime.session() as session:
            assert session.get(JobResult, request.job_result_id).status == "pending"
