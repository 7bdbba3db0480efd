"""Each worker's copies of repository code, one directory per commit, under ``JOBRUNTIME_HOME/git``.

A worker fetches a commit the first time a run needs it; sibling processes sharing
the home directory wait on the same lock and then use that copy. A commit's files
never change once written (they are exported to a temporary directory and renamed
into place), so a run reads exactly the commit it is pinned to. The least recently
used copies beyond the limit are removed.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from jobruntime.sources.remote import GitError, Remote, export_tree, fetch_branch, fetch_commit, has_path

JOBS_FOLDER = "jobs"


class NoJobsFolder(GitError):
    """The commit has no ``jobs/`` folder."""


class CommitCache:
    """Per-commit code of every repository, bounded to ``limit`` commits on disk."""

    def __init__(self, home: Path, limit: int) -> None:
        self.root = home / "git"
        self.limit = limit

    def _mirror(self, slug: str) -> Path:
        return self.root / slug / "mirror.git"

    def _commit_dir(self, slug: str, commit: str) -> Path:
        return self.root / slug / "commits" / commit

    @contextmanager
    def _locked(self, slug: str) -> Iterator[None]:
        """One process at a time fetches into or exports from a repository's mirror."""
        lock_path = self.root / slug / ".lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def fetch_head(self, slug: str, remote: Remote, branch: str) -> str:
        """Fetch ``branch`` and return its commit (what a sync pins new runs to)."""
        with self._locked(slug):
            return fetch_branch(self._mirror(slug), remote, branch)

    def jobs_folder(self, slug: str, remote: Remote, commit: str) -> Path:
        """The ``jobs/`` folder of ``commit``, fetched and exported first if this machine has not got it.

        Raises NoJobsFolder when the commit has none, GitError when it cannot be fetched.
        """
        directory = self._commit_dir(slug, commit)
        if not directory.is_dir():
            with self._locked(slug):
                if not directory.is_dir():
                    self._export(slug, remote, commit, directory)
            self._evict(keep=directory)
        os.utime(directory)
        jobs = directory / JOBS_FOLDER
        if not jobs.is_dir():
            raise NoJobsFolder("No `jobs` subdirectory found in Git repository")
        return jobs

    def _export(self, slug: str, remote: Remote, commit: str, directory: Path) -> None:
        mirror = self._mirror(slug)
        fetch_commit(mirror, remote, commit)
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{commit}-", dir=directory.parent))
        try:
            if has_path(mirror, commit, JOBS_FOLDER):
                export_tree(mirror, commit, JOBS_FOLDER, staging)
            staging.rename(directory)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def _evict(self, keep: Path) -> None:
        """Remove the least recently used commits beyond the limit (never ``keep``)."""
        copies = [path for path in self.root.glob("*/commits/*") if path.is_dir() and not path.name.startswith(".")]
        if len(copies) <= self.limit:
            return
        copies.sort(key=lambda path: path.stat().st_mtime)
        for path in copies[: len(copies) - self.limit]:
            if path != keep:
                shutil.rmtree(path, ignore_errors=True)
