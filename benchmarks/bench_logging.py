"""(b) One job logging 100,000 lines: wall time and peak RSS, beside a raw psycopg COPY of the same rows.

Runs each side in a fresh child process so peak RSS is that side's own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

LINES = 100_000


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def _start_peak() -> float:
    """Reset the peak-RSS mark to the current RSS (Linux) and return the current RSS in MB."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_mb("VmRSS")


def _peak_growth(start: float) -> float:
    return _status_mb("VmHWM") - start


def child_job(url: str, home: str) -> dict[str, float]:
    from benchmarks.common import prepared_runtime
    from benchmarks.jobs.bench_jobs import LogLines
    from jobruntime.run.local import run_local

    runtime = prepared_runtime(url, Path(home))
    run_local(runtime, LogLines.class_path(), data={"lines": 10}, job_class=LogLines)
    before = _start_peak()
    start = time.perf_counter()
    result = run_local(runtime, LogLines.class_path(), data={"lines": LINES}, job_class=LogLines)
    elapsed = time.perf_counter() - start
    assert result.status == "completed" and result.log_info == LINES
    return {"seconds": elapsed, "rss_growth_mb": _peak_growth(before)}


def child_copy(url: str, home: str) -> dict[str, float]:
    import psycopg

    from benchmarks.common import prepared_runtime
    from benchmarks.jobs.bench_jobs import NoOp
    from jobruntime.run.local import run_local
    from jobruntime.run.log import LOG_COLUMNS

    runtime = prepared_runtime(url, Path(home))
    result_id = run_local(runtime, NoOp.class_path(), job_class=NoOp).id
    runtime.engine.dispose()
    before = _start_peak()
    start = time.perf_counter()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        with connection.cursor().copy(f"COPY job_log_entry ({', '.join(LOG_COLUMNS)}) FROM STDIN") as copy:
            for number in range(LINES):
                copy.write_row((
                    result_id, number + 1, "info", "run",
                    f"Checked interface {number} on device bench-switch: all good",
                    datetime.now(timezone.utc), None, None, None, None,
                ))
    elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "rss_growth_mb": _peak_growth(before)}


def _in_child(kind: str, url: str, home: str) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_logging", kind, url, home],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> dict[str, dict[str, float]]:
    from benchmarks.common import drop_postgres, fresh_postgres_url

    results = {}
    with tempfile.TemporaryDirectory() as home:
        for label in ("postgresql", "sqlite"):
            url = fresh_postgres_url() if label == "postgresql" else f"sqlite:///{home}/log-bench.db"
            try:
                results[f"{label} job"] = _in_child("job", url, home)
                if label == "postgresql":
                    results["postgresql raw COPY"] = _in_child("copy", url, home)
            finally:
                if label == "postgresql":
                    drop_postgres(url)
    for label, figures in results.items():
        print(f"{label:>22}: {figures['seconds']:.3f} s, peak RSS growth {figures['rss_growth_mb']:.1f} MB")
    ratio = results["postgresql job"]["seconds"] / results["postgresql raw COPY"]["seconds"]
    print(f"{'ratio job / raw COPY':>22}: {ratio:.2f}x")
    results["ratio"] = {"job_over_copy": ratio}
    return results


if __name__ == "__main__":
    if len(sys.argv) == 4:
        kind, url, home = sys.argv[1:]
        print(json.dumps((child_job if kind == "job" else child_copy)(url, home)))
    else:
        main()
