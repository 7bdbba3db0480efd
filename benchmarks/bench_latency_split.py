"""Where a run's publish → result latency goes, from the JobResult's own timestamps.

Each of 200 sequential no-op runs is split at the points a client and the
database can see: the confirmed publish returns; the worker claims the run
(``started``); the verdict is written (``completed``); the result event arrives.
Worker and client run on one machine, so their clocks agree.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from sqlalchemy import select

from benchmarks.bench_celery import JobruntimeSide
from benchmarks.common import drop_postgres, fresh_postgres_url
from jobruntime.models import JobResult

RUNS = 200
WARMUP_RUNS = 20
PARTS = ("publish, confirmed", "until claimed", "run and verdict", "until the result event", "total")


def _timed_runs(side: JobruntimeSide, runs: int) -> list[tuple[object, float, float, float]]:
    """(job_result_id, publish start, publish returned, event received), as epoch seconds."""
    samples = []
    for _ in range(runs):
        request, _event, start, published, received = side.timed_run()
        samples.append((request.job_result_id, start, published, received))
    return samples


def main(runs: int = RUNS) -> dict[str, float]:
    url = fresh_postgres_url()
    side = None
    try:
        side = JobruntimeSide(url, Path(tempfile.mkdtemp()))
        with side.worker(1):
            _timed_runs(side, WARMUP_RUNS)
            samples = _timed_runs(side, runs)
        with side.runtime.session() as session:
            stored = {row.id: row for row in session.execute(
                select(JobResult.id, JobResult.started, JobResult.completed)
                .where(JobResult.id.in_([sample[0] for sample in samples]))
            )}
    finally:
        if side is not None:
            side.close()
        drop_postgres(url)
    split: dict[str, list[float]] = {part: [] for part in PARTS}
    for job_result_id, start, published, received in samples:
        claimed, decided = stored[job_result_id].started.timestamp(), stored[job_result_id].completed.timestamp()
        for part, seconds in zip(PARTS, (published - start, claimed - published, decided - claimed,
                                         received - decided, received - start), strict=True):
            split[part].append(seconds)
    medians = {part: statistics.median(values) * 1000 for part, values in split.items()}
    print(f"publish → result latency, median of {runs} sequential no-op runs (ms):")
    for part, milliseconds in medians.items():
        print(f"  {part:24s} {milliseconds:6.2f}")
    return medians


if __name__ == "__main__":
    main()
