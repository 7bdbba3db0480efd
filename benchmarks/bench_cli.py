"""(c) ``jobruntime runjob --local`` of a no-op job as a whole process (start-up included).

For scale: Nautobot 1.6's ``nautobot-server runjob --local`` takes ~4 s here (Django start-up).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import JOBS_ROOT, prepared_runtime

RUNS = 10


def main() -> dict[str, float]:
    jobruntime = str(Path(sys.executable).parent / "jobruntime")
    with tempfile.TemporaryDirectory() as home:
        url = f"sqlite:///{home}/cli.db"
        prepared_runtime(url, Path(home)).engine.dispose()
        env = {**os.environ, "JOBRUNTIME_DATABASE_URL": url, "JOBRUNTIME_JOBS_ROOT": str(JOBS_ROOT)}
        command = [jobruntime, "runjob", "--local", "local/bench_jobs/NoOp"]
        subprocess.run(command, env=env, check=True, capture_output=True)
        samples = []
        for _ in range(RUNS):
            start = time.perf_counter()
            subprocess.run(command, env=env, check=True, capture_output=True)
            samples.append(time.perf_counter() - start)
        baseline = []
        for _ in range(RUNS):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True)
            baseline.append(time.perf_counter() - start)
    figures = {"runjob_s": statistics.median(samples), "python_startup_s": statistics.median(baseline)}
    print(
        f"runjob --local no-op: median {figures['runjob_s']:.3f} s over {RUNS} runs "
        f"(bare Python start-up {figures['python_startup_s']:.3f} s)"
    )
    return figures


if __name__ == "__main__":
    main()
