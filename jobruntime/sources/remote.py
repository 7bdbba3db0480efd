"""Talking to a Git remote through the ``git`` command line.

The ``git`` program is used rather than a Python library because it speaks every
transport a team's server does (file, git://, HTTPS, SSH), with the same
configuration and credential behaviour operators already know.
Credentials are handed to ``git`` in its environment only (never in its arguments
or in a URL), so they appear neither in process listings nor in error messages.
"""

from __future__ import annotations

import base64
import io
import os
import shlex
import subprocess
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from jobruntime.core.errors import StorageError

GIT_TIMEOUT = 300.0  # seconds for one git command; a fetch that hangs must not hold a worker for ever


class GitError(StorageError):
    """A git command failed: the remote is unreachable, a commit or branch is missing, a credential is absent."""


@dataclass(frozen=True)
class Remote:
    """Where a repository is fetched from and which environment variables hold its credentials."""

    url: str
    token_env: str | None = None
    ssh_key_env: str | None = None

    def environment(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment ``git`` runs with: no prompts, and the credential read now from its variable."""
        environ = os.environ if environ is None else environ
        env = {**environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "SSH_ASKPASS": "true"}
        if self.token_env:
            token = environ.get(self.token_env)
            if not token:
                raise GitError(f"The environment variable {self.token_env} (the repository's token) is not set")
            basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
            env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="http.extraHeader",
                       GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}")
        if self.ssh_key_env:
            key_file = environ.get(self.ssh_key_env)
            if not key_file:
                raise GitError(f"The environment variable {self.ssh_key_env} (the path of the repository's SSH key)"
                               " is not set")
            env["GIT_SSH_COMMAND"] = f"ssh -i {shlex.quote(key_file)} -o IdentitiesOnly=yes -o BatchMode=yes"
        return env


def run_git(args: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None,
            stdout: int | None = subprocess.PIPE) -> subprocess.CompletedProcess:
    """Run ``git args``; raises GitError with git's own last words when it fails."""
    try:
        completed = subprocess.run(
            ["git", *args], cwd=cwd, env=None if env is None else dict(env), stdout=stdout,
            stderr=subprocess.PIPE, timeout=GIT_TIMEOUT, check=False,
        )
    except FileNotFoundError:
        raise GitError("The git command line is not installed on this machine") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} did not finish within {GIT_TIMEOUT:.0f} seconds") from None
    if completed.returncode != 0:
        message = completed.stderr.decode(errors="replace").strip().splitlines()
        raise GitError(message[-1] if message else f"git {args[0]} failed with exit code {completed.returncode}")
    return completed


def init_mirror(mirror: Path) -> None:
    """A bare repository that keeps every commit fetched so far (the first time only)."""
    if not (mirror / "HEAD").exists():
        mirror.parent.mkdir(parents=True, exist_ok=True)
        run_git(["init", "--quiet", "--bare", str(mirror)])


def fetch_branch(mirror: Path, remote: Remote, branch: str) -> str:
    """Fetch ``branch`` into the mirror; returns the commit it points to."""
    init_mirror(mirror)
    run_git(["fetch", "--quiet", "--no-tags", remote.url, f"+refs/heads/{branch}:refs/heads/{branch}"],
            cwd=mirror, env=remote.environment())
    return run_git(["rev-parse", f"refs/heads/{branch}^{{commit}}"], cwd=mirror).stdout.decode().strip()


def has_commit(mirror: Path, commit: str) -> bool:
    if not (mirror / "HEAD").exists():
        return False
    try:
        run_git(["cat-file", "-e", f"{commit}^{{commit}}"], cwd=mirror)
    except GitError:
        return False
    return True


def fetch_commit(mirror: Path, remote: Remote, commit: str) -> None:
    """Make ``commit`` present in the mirror: asked for by id, else with every branch of the remote."""
    init_mirror(mirror)
    if has_commit(mirror, commit):
        return
    env = remote.environment()
    try:
        run_git(["fetch", "--quiet", "--no-tags", remote.url, commit], cwd=mirror, env=env)
    except GitError:
        run_git(["fetch", "--quiet", "--no-tags", remote.url, "+refs/heads/*:refs/remotes/origin/*"],
                cwd=mirror, env=env)
    if not has_commit(mirror, commit):
        raise GitError(f"Commit {commit} is no longer in the repository (was its branch force-pushed?)")


def has_path(mirror: Path, commit: str, path: str) -> bool:
    try:
        run_git(["cat-file", "-e", f"{commit}:{path}"], cwd=mirror)
    except GitError:
        return False
    return True


def export_tree(mirror: Path, commit: str, path: str, destination: Path) -> None:
    """Write ``path`` of ``commit`` under ``destination`` (which must exist), as files."""
    archive = run_git(["archive", "--format=tar", commit, "--", path], cwd=mirror).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(destination, filter="data")
