"""(c) ``jobruntime runjob --local`` of a no-op job as a whole process (start-up included).

The same no-op job written as a Nautobot 1.x file (``from nautobot.extras.jobs import Job``)
is timed alongside, runs interleaved, to show what the import hook adds to start-up.
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
        commands = {
            "runjob_s": [jobruntime, "runjob", "--local", "local/bench_jobs/NoOp"],
            "runjob_nautobot_style_s": [jobruntime, "runjob", "--local", "local/bench_nautobot/NautobotNoOp"],
        }
        samples: dict[str, list[float]] = {key: [] for key in commands}
        for command in commands.values():
            subprocess.run(command, env=env, check=True, capture_output=True)
        for _ in range(RUNS):
            for key, command in commands.items():
                start = time.perf_counter()
                subprocess.run(command, env=env, check=True, capture_output=True)
                samples[key].append(time.perf_counter() - start)
        baseline = []
        for _ in range(RUNS):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], check=True)
            baseline.append(time.perf_counter() - start)
    figures = {key: statistics.median(values) for key, values in samples.items()}
    figures["python_startup_s"] = statistics.median(baseline)
    print(
        f"runjob --local no-op: median {figures['runjob_s']:.3f} s over {RUNS} runs; "
        f"the same job as a Nautobot-style file {figures['runjob_nautobot_style_s']:.3f} s "
        f"(bare Python start-up {figures['python_startup_s']:.3f} s)"
    )
    return figures


if __name__ == "__main__":
    main()
