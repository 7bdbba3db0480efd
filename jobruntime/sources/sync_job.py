"""The Git sync as a job, so any worker can take it (``jobruntime git sync NAME --on-worker``).

It is offered through the ``jobruntime.jobs`` entry point, as any packaged job is:
``plugins/jobruntime.sources.sync_job/SyncGitRepository``. Its log lines go under the
grouping ``jobs``, as Nautobot's do, and its changes commit with the run.
"""

from __future__ import annotations

from typing import Any

from jobruntime.authoring.job import Job
from jobruntime.authoring.records import find_record
from jobruntime.authoring.variables import StringVar
from jobruntime.core.settings import Settings
from jobruntime.sources.cache import CommitCache
from jobruntime.sources.repositories import get_repository
from jobruntime.sources.sync import sync_repository

name = "Git repositories"


class SyncGitRepository(Job):
    class Meta:
        name = "Sync Git repository"
        description = "Fetch a Git repository and create or refresh the Job records of its jobs/ folder."
        has_sensitive_variables = False
        commit_default = True

    repository = StringVar(description="Name of the repository (see `jobruntime git list`)")

    def run(self, data: dict[str, Any], commit: bool) -> str:
        settings = Settings()
        repository = get_repository(self.session, data["repository"])
        outcome = sync_repository(self.session, repository, CommitCache(settings.home, settings.git_cache_commits))
        self.active_test = "jobs"
        for line in outcome.lines:
            record = find_record(self.session, line.class_path) if line.class_path else None
            getattr(self, f"log_{line.level}")(obj=record, message=line.message)
        return outcome.commit
