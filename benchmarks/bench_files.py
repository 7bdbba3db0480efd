"""(e) A 100 MiB file through storage: `runjob --file` and a job that reads it all, against raw boto3.

Both sides use the same SeaweedFS server (``weed mini`` on free ports): jobruntime's
whole `runjob` process (start-up, upload, publish, the worker's verified fetch, the
job reading every byte, the result) against boto3's ``upload_file`` then
``download_fileobj`` of the same file. Peak RSS growth is read from the kernel: the
`runjob` process's own peak, and the worker process's peak before and after.
Target: ≤ 1.3× the raw pair's time, ≤ 32 MiB RSS growth on each side.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import select

from benchmarks.common import JOBS_ROOT, drop_postgres, fresh_postgres_url, prepared_runtime
from jobruntime.models import User
from jobruntime.run.auth import grant
from jobruntime.storage import open_store
from tests.bus_support import RABBIT_URL, child_pids, running_worker
from tests.storage_support import running_seaweedfs

SIZE = 100 * 1024 * 1024
RUNS = 3
BIN = Path(sys.executable).parent


def _peak_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def _timed_runjob(env: dict[str, str], *args: str) -> tuple[float, int]:
    """Wall time and peak RSS (KiB) of one `jobruntime runjob` process."""
    measure = ("import resource, subprocess, sys, time; start = time.perf_counter(); "
               "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
               "print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", measure, str(BIN / "jobruntime"), "runjob", *args],
                         env={**os.environ, **env}, check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]), int(out[1])


def main() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as home_dir, running_seaweedfs(Path(home_dir) / "weed") as server:
        home = Path(home_dir)
        os.environ.update(server.env)
        big, small = home / "big.bin", home / "small.bin"
        with open(big, "wb") as target:
            for _ in range(SIZE // (1024 * 1024)):
                target.write(os.urandom(1024 * 1024))
        small.write_bytes(b"x")
        storage = f"s3://bench-{uuid.uuid4().hex[:8]}/jobruntime"
        open_store(storage).initialize("uploads/", 1)
        url = fresh_postgres_url()
        try:
            runtime = prepared_runtime(url, home)
            with runtime.session() as session:
                grant(session, session.scalars(select(User).where(User.username == "bench")).one(), "run_job")
                session.commit()
            env = {**server.env, "JOBRUNTIME_DATABASE_URL": url, "JOBRUNTIME_BROKER_URL": RABBIT_URL,
                   "JOBRUNTIME_JOBS_ROOT": str(JOBS_ROOT), "JOBRUNTIME_HOME": str(home),
                   "JOBRUNTIME_STORAGE_URL": storage, "JOBRUNTIME_DEFAULT_QUEUE": f"bench-files-{uuid.uuid4().hex[:6]}",
                   "JOBRUNTIME_SIGNING_SECRET": "bench-signing-secret"}
            job = "local/bench_jobs/ReadFile"
            with running_worker(env) as supervisor:
                (worker,) = child_pids(supervisor.pid)
                _, small_cli = _timed_runjob(env, "-u", "bench", "--file", f"upload=@{small}", job)
                worker_before = _peak_kib(worker)
                runs = [_timed_runjob(env, "-u", "bench", "--file", f"upload=@{big}", job) for _ in range(RUNS)]
                worker_after = _peak_kib(worker)
            runtime.engine.dispose()
        finally:
            drop_postgres(url)
        client = server.client()
        client.create_bucket(Bucket="raw-pair")
        raw = []
        for _ in range(RUNS):
            start = time.perf_counter()
            client.upload_file(str(big), "raw-pair", "big.bin")
            with tempfile.TemporaryFile() as sink:
                client.download_fileobj("raw-pair", "big.bin", sink)
            raw.append(time.perf_counter() - start)
    figures = {
        "runjob_s": statistics.median(seconds for seconds, _ in runs),
        "raw_pair_s": statistics.median(raw),
        "cli_rss_growth_mib": (max(peak for _, peak in runs) - small_cli) / 1024,
        "worker_rss_growth_mib": (worker_after - worker_before) / 1024,
    }
    print(f"100 MiB: runjob --file + job reading it {figures['runjob_s']:.2f} s, raw boto3 upload_file + "
          f"download_fileobj {figures['raw_pair_s']:.2f} s ({figures['runjob_s'] / figures['raw_pair_s']:.2f}×, "
          f"median of {RUNS}); peak RSS growth: runjob {figures['cli_rss_growth_mib']:.1f} MiB, "
          f"worker {figures['worker_rss_growth_mib']:.1f} MiB")
    return figures


if __name__ == "__main__":
    main()
