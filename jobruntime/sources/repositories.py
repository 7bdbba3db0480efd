"""Registering Git repositories: what ``jobruntime git add/list/show/delete`` change.

A repository is stored with the *name* of the environment variable that holds its
token or SSH key path; the secret is read from each process's environment when
``git`` runs. URLs carrying credentials are refused, so none is stored or printed.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from jobruntime.core.errors import RefusalError
from jobruntime.core.text import slugify
from jobruntime.models import GitRepository, Job
from jobruntime.sources.remote import Remote

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class RepositoryError(RefusalError, ValueError):
    """A repository that cannot be added, found or deleted as asked."""


def remote_of(repository: GitRepository) -> Remote:
    return Remote(repository.remote_url, repository.token_env, repository.ssh_key_env)


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.password is not None or (parts.username and parts.scheme in ("http", "https")):
        raise RepositoryError(
            "The URL carries credentials; put the token in an environment variable and name it with --token-env"
        )
    if not url.strip():
        raise RepositoryError("The repository URL is empty")


def _check_env_name(option: str, name: str | None) -> None:
    if name is not None and not _ENV_NAME.fullmatch(name):
        raise RepositoryError(f"{option} takes the name of an environment variable, not {name!r}")


def add_repository(
    session: Session, name: str, url: str, *, branch: str = "main", token_env: str | None = None,
    ssh_key_env: str | None = None,
) -> GitRepository:
    """Register a repository (its jobs appear at its first sync); the caller commits."""
    slug = slugify(name)
    if not slug or len(name) > 100:
        raise RepositoryError("A repository name needs 1 to 100 characters, with at least one letter or digit")
    if token_env and ssh_key_env:
        raise RepositoryError("Give either --token-env or --ssh-key-env, not both")
    _check_url(url)
    _check_env_name("--token-env", token_env)
    _check_env_name("--ssh-key-env", ssh_key_env)
    taken = session.scalars(
        select(GitRepository).where((GitRepository.name == name) | (GitRepository.slug == slug))
    ).first()
    if taken is not None:
        raise RepositoryError(f'A repository named "{taken.name}" (slug {taken.slug}) already exists')
    repository = GitRepository(name=name, slug=slug, remote_url=url, branch=branch, token_env=token_env,
                               ssh_key_env=ssh_key_env)
    session.add(repository)
    session.flush()
    return repository


def get_repository(session: Session, name: str) -> GitRepository:
    """The repository called ``name`` (or with that slug); raises RepositoryError when there is none."""
    repository = session.scalars(
        select(GitRepository).where((GitRepository.name == name) | (GitRepository.slug == name))
    ).first()
    if repository is None:
        raise RepositoryError(f'No Git repository named "{name}" (see `jobruntime git list`)')
    return repository


def list_repositories(session: Session) -> list[GitRepository]:
    return list(session.scalars(select(GitRepository).order_by(GitRepository.name)))


def delete_repository(session: Session, name: str) -> list[str]:
    """Remove a repository; its Job records stay, marked not installed (their results keep their links).

    Returns the class paths of those records. The caller commits.
    """
    repository = get_repository(session, name)
    records = list(session.scalars(select(Job).where(Job.source == repository.source)))
    session.execute(update(Job).where(Job.source == repository.source).values(installed=False))
    session.delete(repository)
    session.flush()
    return [record.class_path for record in records]


def recorded_commit(source: str | None) -> str | None:
    """The commit in a JobResult's ``source`` (``git.<slug>@<commit>``), if it records one."""
    if not source or "@" not in source:
        return None
    return source.rsplit("@", 1)[1]
