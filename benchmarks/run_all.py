"""Run every benchmark of this directory, one after the other: ``python -m benchmarks.run_all``."""

from benchmarks import (
    bench_celery,
    bench_changes,
    bench_cli,
    bench_drain,
    bench_files,
    bench_floor,
    bench_gateway,
    bench_job_hooks,
    bench_latency_split,
    bench_logging,
    bench_runs,
    bench_schedules,
)

if __name__ == "__main__":
    print("== (a) per-run overhead ==")
    bench_runs.main()
    print("== (b) 100,000 log lines ==")
    bench_logging.main()
    print("== (c) runjob --local as a process ==")
    bench_cli.main()
    print("== (d) jobruntime vs. Celery 5 on RabbitMQ + PostgreSQL ==")
    bench_celery.main()
    print("== (d) draining a backlog: 2,000 queued runs, jobruntime vs. Celery 5 ==")
    bench_drain.main()
    print("== (d) where jobruntime's latency goes ==")
    bench_latency_split.main()
    print("== (d) the floor: what a bare consumer costs on this machine ==")
    bench_floor.main()
    print("== schedules: 1,000 due at once among 10,000, two supervisors ==")
    bench_schedules.main()
    print("== (e) change logging: 1,000 devices with commit, on against off ==")
    bench_changes.main()
    print("== (f) job hooks: commit -> hook run, and hook runs per second ==")
    bench_job_hooks.main()
    print("== (g) a 100 MiB file through storage vs. raw boto3 ==")
    bench_files.main()
    print("== (h) the HTTP gateway: POST .../run/ against Client.publish ==")
    bench_gateway.main()
