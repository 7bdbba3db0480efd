"""(e) What change logging costs: a job creating 1,000 devices with commit, change logging on against off.

Target: on ≤ 1.25 × off. Both sides run in this process on one fresh PostgreSQL
database, alternating, best of ``ROUNDS`` each.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from benchmarks.common import drop_postgres, fresh_postgres_url, prepared_runtime
from jobruntime.models import ObjectChange
from jobruntime.run.local import run_local

DEVICES = 1000
ROUNDS = 3


def _timed(runtime, job_class) -> float:
    start = time.perf_counter()
    result = run_local(runtime, job_class.class_path(), data={"count": DEVICES}, commit=True, username="bench",
                       job_class=job_class)
    elapsed = time.perf_counter() - start
    assert result.status == "completed", result.reason
    with runtime.session() as session:
        recorded = session.scalar(select(func.count()).where(ObjectChange.request_id == result.id))
    assert (recorded > DEVICES) if runtime.settings.change_logging else (recorded == 0), recorded
    return elapsed


def main() -> None:
    from benchmarks.jobs.bench_inventory import CreateDevices

    url = fresh_postgres_url()
    try:
        with tempfile.TemporaryDirectory() as home:
            logged = prepared_runtime(url, Path(home))
            unlogged = type(logged).from_settings(logged.settings.replace(change_logging=False))
            _timed(logged, CreateDevices)  # warm-up: imports, the inventory models, statement caches
            on, off = [], []
            for _ in range(ROUNDS):
                off.append(_timed(unlogged, CreateDevices))
                on.append(_timed(logged, CreateDevices))
        best_on, best_off = min(on), min(off)
        print(f"{DEVICES} devices, commit: change logging off {best_off:.2f} s, on {best_on:.2f} s "
              f"(x{best_on / best_off:.2f}; target <= x1.25)")
    finally:
        drop_postgres(url)


if __name__ == "__main__":
    main()
