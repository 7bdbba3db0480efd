"""cProfile around a job's ``run()``, written where Nautobot's jobs and its documentation look for it."""

from __future__ import annotations

import cProfile
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def profile_path(job_result_id: uuid.UUID) -> Path:
    """``<tmp>/nautobot-jobresult-<uuid>.pstats``: the file Nautobot 1.x writes and its jobs read."""
    return Path(tempfile.gettempdir()) / f"nautobot-jobresult-{job_result_id}.pstats"


def documented_path(job_result_id: uuid.UUID) -> Path:
    """``<tmp>/job-result-<uuid>.pstats``: the name Nautobot's documentation gives, linked to the real file."""
    return Path(tempfile.gettempdir()) / f"job-result-{job_result_id}.pstats"


@contextmanager
def profiled(job_result_id: uuid.UUID) -> Iterator[Path]:
    """Profile the body and dump pstats to :func:`profile_path`, even if it raises.

    The documented name is a symbolic link to that file (a copy where the
    filesystem has no links), so readers following either source find it.
    """
    path = profile_path(job_result_id)
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield path
    finally:
        profiler.disable()
        profiler.dump_stats(path)
        _link(path, documented_path(job_result_id))


def _link(target: Path, link: Path) -> None:
    link.unlink(missing_ok=True)
    try:
        os.symlink(target.name, link)
    except OSError:
        link.write_bytes(target.read_bytes())
