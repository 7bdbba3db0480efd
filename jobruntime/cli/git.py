"""``jobruntime git``: Git repositories as job sources (add, list, show, sync, delete)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from jobruntime.cli.common import CommandError, echo_json, get_runtime

if TYPE_CHECKING:
    from jobruntime.models import GitRepository

SYNC_JOB = "plugins/jobruntime.sources.sync_job/SyncGitRepository"


@click.group()
def git() -> None:
    """Manage Git repositories that provide jobs (git.<slug>/<module>/<Class>)."""


def _describe(repository: GitRepository) -> dict[str, Any]:
    return {
        "name": repository.name,
        "slug": repository.slug,
        "url": repository.remote_url,
        "branch": repository.branch,
        "token_env": repository.token_env,
        "ssh_key_env": repository.ssh_key_env,
        "current_head": repository.current_head,
        "last_synced": repository.last_synced.isoformat() if repository.last_synced else None,
    }


def _enable_sync_job(session, jobs_root) -> None:
    """The sync job's record, enabled: adding a repository is asking for it to be synced (on workers too)."""
    from jobruntime.authoring.discovery import load_job_class
    from jobruntime.authoring.records import refresh_record

    record, _created = refresh_record(session, load_job_class(SYNC_JOB, jobs_root))
    record.enabled = True


@git.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--branch", default="main", show_default=True, help="Branch whose jobs are used.")
@click.option("--token-env", help="Environment variable holding an HTTPS token (the token is never stored).")
@click.option("--ssh-key-env", help="Environment variable holding the path of an SSH private key.")
def add(name: str, url: str, branch: str, token_env: str | None, ssh_key_env: str | None) -> None:
    """Register repository NAME at URL; `jobruntime git sync NAME` then loads its jobs/ folder."""
    from jobruntime.sources.repositories import RepositoryError, add_repository

    runtime = get_runtime()
    with runtime.session() as session:
        try:
            repository = add_repository(session, name, url, branch=branch, token_env=token_env,
                                        ssh_key_env=ssh_key_env)
        except RepositoryError as exc:
            raise CommandError(str(exc)) from exc
        _enable_sync_job(session, runtime.settings.jobs_root)
        session.commit()
        click.echo(f"Added Git repository {repository.name}: its jobs will be git.{repository.slug}/<module>/<Class>")


@git.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_repositories(as_json: bool) -> None:
    """List Git repositories."""
    from jobruntime.sources.repositories import list_repositories as listed

    runtime = get_runtime()
    with runtime.session() as session:
        repositories = [_describe(repository) for repository in listed(session)]
    if as_json:
        echo_json(repositories)
        return
    for repository in repositories:
        head = (repository["current_head"] or "never synced")[:12]
        click.echo(f"{repository['name']}\tgit.{repository['slug']}\t{repository['url']}\t{repository['branch']}\t{head}")


@git.command("show")
@click.argument("name")
def show(name: str) -> None:
    """Show one Git repository as JSON."""
    from jobruntime.sources.repositories import RepositoryError, get_repository

    runtime = get_runtime()
    with runtime.session() as session:
        try:
            echo_json(_describe(get_repository(session, name)))
        except RepositoryError as exc:
            raise CommandError(str(exc)) from exc


@git.command("sync")
@click.argument("name")
@click.option("--on-worker", is_flag=True, help="Publish the sync as a run request for any worker to take.")
@click.option("-u", "--username", help="User the run is made as (with --on-worker).")
@click.option("--token", envvar="JOBRUNTIME_TOKEN", help="API token of --username (or JOBRUNTIME_TOKEN).")
@click.option("--json", "as_json", is_flag=True, help="With --on-worker: print the JobResult as JSON.")
def sync(name: str, on_worker: bool, username: str | None, token: str | None, as_json: bool) -> None:
    """Fetch NAME's branch and create/refresh Job records from its jobs/ folder (new jobs start disabled)."""
    if on_worker:
        from jobruntime.cli.runjob import _run_on_bus

        if not username:
            raise CommandError("--username is mandatory with --on-worker (the worker checks permissions)")
        raise SystemExit(_run_on_bus(SYNC_JOB, {"repository": name}, {}, True, username, token, None, False,
                                     as_json, False))
    from jobruntime.sources.cache import CommitCache
    from jobruntime.sources.remote import GitError
    from jobruntime.sources.repositories import RepositoryError, get_repository
    from jobruntime.sources.sync import sync_repository

    runtime = get_runtime()
    settings = runtime.settings
    with runtime.session() as session:
        try:
            repository = get_repository(session, name)
            outcome = sync_repository(session, repository, CommitCache(settings.home, settings.git_cache_commits))
        except (RepositoryError, GitError) as exc:
            raise CommandError(f"Cannot sync {name}: {exc}") from exc
        session.commit()
    click.echo(f"Synced {name} at {outcome.commit}")
    for line in outcome.lines:
        suffix = f" {line.class_path}" if line.class_path else ""
        click.echo(f"{line.level}: {line.message}{suffix}", err=line.level == "failure")
    if outcome.failed:
        raise SystemExit(1)


@git.command("delete")
@click.argument("name")
def delete(name: str) -> None:
    """Remove repository NAME; its Job records stay, marked as no longer installed."""
    from jobruntime.sources.repositories import RepositoryError, delete_repository

    runtime = get_runtime()
    with runtime.session() as session:
        try:
            uninstalled = delete_repository(session, name)
        except RepositoryError as exc:
            raise CommandError(str(exc)) from exc
        session.commit()
    click.echo(f"Deleted Git repository {name}")
    for class_path in uninstalled:
        click.echo(f"Marked Job record {class_path} as no longer installed")
