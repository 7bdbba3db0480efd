"""(f) Job hooks on RabbitMQ + PostgreSQL: commit → hook run started, and hook runs per second.

(1) p50 over 200 changes, one at a time: from the committing run's verdict (its
``completed``, written in the transaction that records the change) to the hook
run's ``started``; target ≤ 15 ms. (2) One commit of 1,000 changes → 1,000 hook runs
of a no-op receiver on 2 worker processes, runs/s from that commit to the last
hook run's result event, beside the same receiver's runs published directly (1,000 requests).
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import select

from benchmarks.bench_celery import JobruntimeSide, _drain_results
from benchmarks.common import drop_postgres, fresh_postgres_url
from jobruntime.authoring.records import find_record
from jobruntime.changes.hooks import hook_run_id
from jobruntime.models import JobHook, JobResult, ObjectChange

CHANGES = 200
BURST = 1000
RECEIVER = "local/bench_inventory/NoOpReceiver"
ROW_AND_LOGS = "local/bench_inventory/RowAndLogs"
CREATE_DEVICES = "local/bench_inventory/CreateDevices"


def _hook(side: JobruntimeSide, content_type: str) -> uuid.UUID:
    with side.runtime.session() as session:
        hook = JobHook(name=f"bench {content_type}", slug=f"bench-{content_type.replace('.', '-')}",
                       job=find_record(session, RECEIVER), content_types=[content_type], type_create=True)
        session.add(hook)
        session.commit()
        return hook.id


def _run(side: JobruntimeSide, job: str, **data: int) -> uuid.UUID:
    request = side.client.request(job, data=data, commit=True, task_queue=side.queue)
    with side.client.follow(request.job_result_id) as follower:
        side.client.publish(request)
        event = follower.wait(timeout=120)
    if event.status != "completed":
        raise AssertionError(f"{job} ended {event.status}: {event.reason}")
    return request.job_result_id


def _changes(side: JobruntimeSide, trigger: uuid.UUID, content_type: str) -> list[uuid.UUID]:
    with side.runtime.session() as session:
        return list(session.scalars(select(ObjectChange.id).where(ObjectChange.request_id == trigger,
                                                                  ObjectChange.changed_object_type == content_type)))


def _wait_started(side: JobruntimeSide, ids: list[uuid.UUID], timeout: float = 60) -> dict[uuid.UUID, JobResult]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with side.runtime.session() as session:
            rows = {row.id: row for row in session.scalars(select(JobResult).where(JobResult.id.in_(ids)))}
        if len(rows) == len(ids) and all(row.started is not None for row in rows.values()):
            return rows
        time.sleep(0.05)
    raise TimeoutError(f"hook runs {ids} did not start within {timeout} s")


def commit_to_hook_run(side: JobruntimeSide) -> float:
    """Median milliseconds from a change's commit to its hook run's start, one change at a time."""
    hook_id = _hook(side, "dcim.site")
    samples = []
    for _ in range(CHANGES):
        trigger = _run(side, ROW_AND_LOGS)
        ids = [hook_run_id(hook_id, change) for change in _changes(side, trigger, "dcim.site")]
        started = _wait_started(side, ids)
        with side.runtime.session() as session:
            committed = session.get(JobResult, trigger).completed
        samples.extend((row.started - committed).total_seconds() * 1000 for row in started.values())
    return statistics.median(samples)


def hook_run_rate(side: JobruntimeSide) -> tuple[float, float]:
    """Hook runs per second from the commit of 1,000 changes to the last hook run's result; and the
    same receiver's runs per second when its 1,000 requests are published directly."""
    hook_id = _hook(side, "dcim.device")
    with side.client.bus.subscribe(["job.result.*"]) as subscription:
        trigger = _run(side, CREATE_DEVICES, count=BURST)
        changes = _changes(side, trigger, "dcim.device")
        ids = {str(hook_run_id(hook_id, change)) for change in changes}
        with side.runtime.session() as session:
            committed = session.get(JobResult, trigger).completed
        _drain_results(subscription, set(ids))
        hooked = len(ids) / (time.time() - committed.timestamp())
    side._check_completed(ids)
    with side.client.bus.subscribe(["job.result.*"]) as subscription:
        requests = [side.client.request(RECEIVER, data={"object_change": str(change)}, commit=True,
                                        task_queue=side.queue) for change in changes]
        start = time.perf_counter()
        for request in requests:
            side.client.publish(request)
        direct = {str(request.job_result_id) for request in requests}
        _drain_results(subscription, set(direct))
        bare = len(direct) / (time.perf_counter() - start)
    side._check_completed(direct)
    return hooked, bare


def main() -> dict[str, float]:
    url = fresh_postgres_url()
    side = None
    try:
        side = JobruntimeSide(url, Path(tempfile.mkdtemp()))
        with side.worker(1):
            latency = commit_to_hook_run(side)
        with side.worker(2):
            rate, bare = hook_run_rate(side)
    finally:
        if side is not None:
            side.close()
        drop_postgres(url)
    print(f"commit -> hook run started, p50 of {CHANGES} changes: {latency:.1f} ms (target <= 15 ms)")
    print(f"{BURST} changes in one commit -> hook runs completed, 2 workers: {rate:.0f} runs/s; "
          f"the same receiver's runs published directly: {bare:.0f} runs/s")
    return {"latency_ms": latency, "hook_runs_per_second": rate, "bare_runs_per_second": bare}


if __name__ == "__main__":
    main()
