"""(a) Per-run overhead of the execution path, in one process, on PostgreSQL and SQLite.

Each run goes through ``run_local``, the path ``runjob --local`` and the worker
share: create the JobResult, validate input, run in a transaction, write logs,
record the verdict. The one-row run adds what a job changing data costs: a
lookup, ``validated_save()`` and the change log. For scale, Nautobot 1.6 on
this machine: ~11 ms per no-op run, ~120 ms for a job logging 100 lines.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.common import drop_postgres, fresh_postgres_url, prepared_runtime
from benchmarks.jobs.bench_inventory import OneRow
from benchmarks.jobs.bench_jobs import LogLines, NoOp
from jobruntime.run.local import run_local


def per_run_ms(runtime, job_class, runs: int, data=None) -> float:
    class_path = job_class.class_path()
    for _ in range(20):
        run_local(runtime, class_path, data=data, commit=True, username="bench", job_class=job_class)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        result = run_local(runtime, class_path, data=data, commit=True, username="bench", job_class=job_class)
        samples.append(time.perf_counter() - start)
        assert result.status == "completed", result.status
    return statistics.fmean(samples) * 1000


def measure(label: str, url: str, home: Path) -> dict[str, float]:
    runtime = prepared_runtime(url, home)
    figures = {
        "no-op run (ms)": per_run_ms(runtime, NoOp, 1000),
        "100-line run (ms)": per_run_ms(runtime, LogLines, 200, data={"lines": 100}),
        "one-row run (ms)": per_run_ms(runtime, OneRow, 500),
    }
    runtime.engine.dispose()
    print(f"{label:>10}: " + ", ".join(f"{name} {value:.2f}" for name, value in figures.items()), flush=True)
    return figures


def main() -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as home:
        results = {"sqlite": measure("SQLite", f"sqlite:///{home}/bench.db", Path(home))}
        url = fresh_postgres_url()
        try:
            results["postgresql"] = measure("PostgreSQL", url, Path(home))
        finally:
            drop_postgres(url)
    return results


if __name__ == "__main__":
    main()
