"""Schedules: 1,000 occurrences due at once among 10,000 waiting schedules, two supervisors firing them.

Measures (1) the time from the due second until all 1,000 run requests are on
their queue (nobody consumes that queue, so its message count is the publish
count), and (2) the supervisors' CPU while nothing is due, from /proc, with
10,000 schedules waiting. Targets: within 2 s, and under 2 % of one core.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
import uuid
from pathlib import Path

from kombu import Connection
from sqlalchemy import insert, select

from benchmarks.bench_celery import BIN, worker_process
from benchmarks.common import drop_postgres, fresh_postgres_url, prepared_runtime
from jobruntime.authoring.records import find_record
from jobruntime.bus.broker import Bus
from jobruntime.core.clock import utcnow
from jobruntime.core.settings import Settings
from jobruntime.models import ScheduledJob, User

WAITING = 10_000
DUE = 1_000
IDLE_SECONDS = 20
BROKER = os.environ.get("JOBRUNTIME_BENCH_BROKER", "amqp://guest:guest@127.0.0.1:5672//")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _rows(record, user_id, count, start, interval):
    return [{
        "id": uuid.uuid4(), "name": f"bench {index}", "job_model_id": record.id, "job_class": record.class_path,
        "interval": interval, "crontab": "", "time_zone": "UTC", "start_time": start, "one_off": interval == "future",
        "enabled": True, "next_run_at": start, "total_run_count": 0, "data": {}, "user_id": user_id,
        "approval_required": False,
    } for index in range(count)]


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime of this process only


def _queued(queue: str) -> int:
    with Connection(BROKER) as connection:
        return connection.default_channel.queue_declare(queue=queue, passive=True).message_count


def main() -> dict[str, float]:
    url = fresh_postgres_url()
    home = Path(tempfile.mkdtemp())
    queue = f"bench-schedules-{uuid.uuid4().hex[:8]}"
    env = {"JOBRUNTIME_DATABASE_URL": url, "JOBRUNTIME_BROKER_URL": BROKER, "JOBRUNTIME_HOME": str(home),
           "JOBRUNTIME_JOBS_ROOT": str(Path(__file__).parent / "jobs"), "JOBRUNTIME_CHECK_CONSUMERS": "false",
           "JOBRUNTIME_DEFAULT_QUEUE": f"{queue}-workers"}
    try:
        runtime = prepared_runtime(url, home)
        with Bus(Settings(broker_url=BROKER)) as bus:
            bus.declare_run_queues([queue])
        due_at = (utcnow() + dt.timedelta(seconds=20)).replace(microsecond=0)
        with runtime.session() as session:
            record = find_record(session, "local/bench_jobs/NoOp")
            user_id = session.scalars(select(User.id).where(User.username == "bench")).one()
            rows = _rows(record, user_id, WAITING, due_at + dt.timedelta(days=1), "daily")
            rows += [{**row, "task_queue": queue} for row in _rows(record, user_id, DUE, due_at, "future")]
            for row in rows:
                row.setdefault("task_queue", None)
            session.execute(insert(ScheduledJob.__table__), rows)
            session.commit()
        command = [str(BIN / "jobruntime"), "worker", "-Q", env["JOBRUNTIME_DEFAULT_QUEUE"], "--concurrency", "1"]
        log = home / "supervisors.log"
        with worker_process(command, env, log, lambda: True), worker_process(command, env, log, lambda: True):
            while utcnow() < due_at:
                time.sleep(0.01)
            while _queued(queue) < DUE:
                time.sleep(0.02)
            fired_in = (utcnow() - due_at).total_seconds()
            supervisors = _supervisor_pids()
            time.sleep(3)  # let the firing pass settle
            before = {pid: _cpu_seconds(pid) for pid in supervisors}
            time.sleep(IDLE_SECONDS)
            idle = sum(_cpu_seconds(pid) - before[pid] for pid in supervisors) / IDLE_SECONDS / len(supervisors)
    finally:
        drop_postgres(url)
        with Connection(BROKER) as connection:
            connection.default_channel.queue_delete(queue)
    print(f"{DUE:,} occurrences due at once among {WAITING:,} waiting schedules, 2 supervisors: "
          f"all published {fired_in:.2f} s after the due second (target ≤ 2 s)")
    print(f"idle supervisor CPU with {WAITING:,} schedules waiting: {idle * 100:.2f} % of one core each (target < 2 %)")
    return {"fired_seconds": fired_in, "idle_cpu": idle}


def _supervisor_pids() -> list[int]:
    """The supervisors this script started: its child processes."""
    mine = os.getpid()
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if parent == mine:
                pids.append(int(entry))
    return pids


if __name__ == "__main__":
    main()
