"""The publisher side: following a run's events, and recording a run as pending before publishing it."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

from jobruntime.bus.broker import Bus
from jobruntime.client import Client, Follower, RunRejected
from jobruntime.store.database import migrate
from jobruntime.authoring.discovery import discover
from jobruntime.run.events import result_event_row
from jobruntime.authoring.records import sync
from jobruntime.models import JobResult
from jobruntime.core.settings import Settings
from jobruntime.testing import ensure_user


class _Feed:
    """Events as a subscription hands them over, in order (no broker involved: this is the follower's logic)."""

    def __init__(self, *events: tuple[str, dict]) -> None:
        self.events = [(key, json.dumps(body).encode()) for key, body in events]

    def get(self, timeout: float) -> tuple[str, bytes] | None:
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


def test_a_follower_hands_log_entries_over_in_the_order_they_were_logged():
    job_result_id = uuid.uuid4()

    def batch(level: str, *seqs: int) -> tuple[str, dict]:
        entries = [{"seq": seq, "created": "2026-11-28T00:00:00Z", "grouping": "run", "log_level": level,
                    "message": f"m{seq}"} for seq in seqs]
        return f"job.log.{level}", {"job_result_id": str(job_result_id), "entries": entries}

    feed = _Feed(batch("info", 1, 3), batch("warning", 2), batch("info", 5),
                 ("job.result.completed", _result(job_result_id, "completed")))
    shown: list[int] = []
    Follower(feed, job_result_id).wait(on_log=lambda entry: shown.append(entry.seq), timeout=5)
    assert shown == [1, 2, 3, 5]  # 4 never came: what arrived is handed over when the run ends


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
