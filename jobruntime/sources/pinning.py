"""Which commit a run of a Git job uses, and its class from that commit.

A run is pinned once: to the commit already recorded on its JobResult (a run handed
back and started again), else to the repository's ``current_head`` as the last sync
left it. The worker then loads the class from that commit only, fetching it first
if this machine has not got it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from jobruntime.authoring.discovery import JobNotFound, split_class_path
from jobruntime.authoring.discovery import load_job_class as load_local_or_plugin_class
from jobruntime.authoring.job import Job
from jobruntime.core.errors import StorageError
from jobruntime.core.settings import Settings
from jobruntime.models import GitRepository, JobResult
from jobruntime.sources.cache import CommitCache
from jobruntime.sources.loading import load_job_class
from jobruntime.sources.remote import Remote
from jobruntime.sources.repositories import recorded_commit, remote_of

_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


class SourceUnavailable(StorageError):
    """The code of a Git job cannot be had at the run's commit; the run ends ``errored`` with this reason."""


@dataclass(frozen=True)
class Pin:
    """A run's repository and commit; ``source`` is what the JobResult records: ``git.<slug>@<commit>``."""

    slug: str
    remote: Remote
    commit: str

    @property
    def source(self) -> str:
        return f"git.{self.slug}@{self.commit}"


def pin(session: Session, source: str, job_result_id: uuid.UUID) -> Pin:
    """The commit a run uses, recorded on its JobResult before any of its code is loaded.

    A run started again (its worker was lost) keeps the commit its first attempt recorded.
    Raises SourceUnavailable when the repository is gone or was never synced. ``session``
    autocommits (each statement commits by itself).
    """
    slug = source.removeprefix("git.")
    repository = session.scalars(select(GitRepository).where(GitRepository.slug == slug)).first()
    if repository is None:
        raise SourceUnavailable(f'The Git repository "{slug}" no longer exists')
    recorded = session.scalar(select(JobResult.source).where(JobResult.id == job_result_id))
    commit = recorded_commit(recorded) or repository.current_head
    if commit is None:
        raise SourceUnavailable(f'The Git repository "{repository.name}" has not been synced yet')
    if not _COMMIT.fullmatch(commit):
        raise SourceUnavailable(f"{commit!r} is not a commit id")
    pinned = Pin(slug, remote_of(repository), commit)
    if recorded is None:  # a run whose row is written only with its outcome records it then
        session.execute(update(JobResult).where(JobResult.id == job_result_id, JobResult.source.is_(None))
                        .values(source=pinned.source))
    return pinned


def load_pinned_class(settings: Settings, pinned: Pin, class_path: str) -> type[Job]:
    """The class from the pinned commit; raises GitError when it cannot be fetched, JobNotFound when absent."""
    cache = CommitCache(settings.home, settings.git_cache_commits)
    return load_job_class(cache.jobs_folder(pinned.slug, pinned.remote, pinned.commit), pinned.commit, class_path)


def load_current_class(session: Session, settings: Settings, class_path: str) -> type[Job]:
    """The class ``class_path`` names as a new run would get it: a Git job's from its repository's current commit.

    For forms and record overrides, which describe the code the next runs use. Raises JobNotFound,
    InvalidClassPath, FileNotFoundError (JOBS_ROOT), SourceUnavailable or GitError.
    """
    source = split_class_path(class_path)[0]
    if not source.startswith("git."):
        return load_local_or_plugin_class(class_path, settings.jobs_root)
    slug = source.removeprefix("git.")
    repository = session.scalars(select(GitRepository).where(GitRepository.slug == slug)).first()
    if repository is None or repository.current_head is None:
        raise JobNotFound(f'Job "{class_path}" not found (its repository is missing or was never synced)')
    return load_pinned_class(settings, Pin(slug, remote_of(repository), repository.current_head), class_path)
