"""Syncing a Git repository: fetch its branch, then create/refresh the Job records of its ``jobs/`` folder.

The sync moves the repository's ``current_head``: runs started afterwards use the
new commit, runs already going finish on theirs. Its log lines are Nautobot's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from jobruntime.authoring.discovery import Discovery
from jobruntime.authoring.records import sync as sync_records
from jobruntime.core.clock import utcnow
from jobruntime.models import GitRepository
from jobruntime.sources.cache import CommitCache, NoJobsFolder
from jobruntime.sources.loading import discover_commit
from jobruntime.sources.repositories import remote_of


@dataclass(frozen=True)
class SyncLine:
    """One log line of a sync; ``class_path`` names the Job record it is about, if any."""

    level: str
    message: str
    class_path: str | None = None


@dataclass
class SyncOutcome:
    commit: str
    lines: list[SyncLine] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(line.level == "failure" for line in self.lines)


def sync_repository(session: Session, repository: GitRepository, cache: CommitCache) -> SyncOutcome:
    """Fetch and refresh one repository's Job records in ``session``; the caller commits.

    Raises GitError when the branch cannot be fetched (nothing is changed then).
    """
    remote = remote_of(repository)
    commit = cache.fetch_head(repository.slug, remote, repository.branch)
    outcome = SyncOutcome(commit)
    try:
        jobs_folder = cache.jobs_folder(repository.slug, remote, commit)
    except NoJobsFolder as exc:
        outcome.lines.append(SyncLine("warning", str(exc)))
        found = Discovery()
    else:
        found = discover_commit(jobs_folder, repository.slug, commit)
    for module, error in found.errors.items():
        outcome.lines.append(SyncLine("failure", f"Error in loading Jobs from `{module}`: `{error}`"))
    report = sync_records(session, found, sources=(repository.source,))
    outcome.lines += [SyncLine("success", "Created Job record", path) for path in report.created]
    outcome.lines += [SyncLine("success", "Refreshed Job record", path) for path in report.refreshed]
    outcome.lines += [SyncLine("failure", f"Failed to create Job record: {report.errors[path]}", path)
                      for path in report.errors if path not in found.errors]
    outcome.lines += [SyncLine("warning", "Marking Job record as no longer installed", path)
                      for path in report.uninstalled]
    repository.current_head = commit
    repository.last_synced = utcnow()
    session.flush()
    return outcome
