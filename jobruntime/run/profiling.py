"""cProfile around a job's ``run()``, written where the documentation says to look."""

from __future__ import annotations

import cProfile
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def profile_path(job_result_id: uuid.UUID) -> Path:
    return Path(tempfile.gettempdir()) / f"job-result-{job_result_id}.pstats"


@contextmanager
def profiled(job_result_id: uuid.UUID) -> Iterator[Path]:
    """Profile the body and dump pstats to ``<tmp>/job-result-<uuid>.pstats``, even if it raises."""
    path = profile_path(job_result_id)
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield path
    finally:
        profiler.disable()
        profiler.dump_stats(path)
