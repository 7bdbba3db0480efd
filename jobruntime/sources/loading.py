"""Importing a repository's ``jobs/`` folder as a package of its own per repository and commit.

The package is named after the repository slug and the full commit id, so two
repositories, or two commits of one, never share a module, and job modules can
import their siblings relatively (``from .helpers import x``). A commit's code never
changes, so its modules stay imported for the life of the process.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import logging
import sys
from pathlib import Path
from types import ModuleType

from jobruntime.authoring.discovery import Discovery, JobNotFound, job_classes, split_class_path
from jobruntime.authoring.job import Job

logger = logging.getLogger(__name__)

_PACKAGE_PREFIX = "jobruntime_git"


def package_name(slug: str, commit: str) -> str:
    """A module name for one repository and commit; the slug is hex-encoded, so no two slugs share one."""
    return f"{_PACKAGE_PREFIX}_{slug.encode().hex()}_{commit}"


def _package(jobs_folder: Path, slug: str, commit: str) -> str:
    """Import (once) the package standing for ``jobs_folder`` at ``commit``; returns its name."""
    name = package_name(slug, commit)
    if name in sys.modules:
        return name
    init = jobs_folder / "__init__.py"
    if init.is_file():
        spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(jobs_folder)])
    else:
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = [str(jobs_folder)]
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        if spec.loader is not None:
            spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return name


def import_job_module(jobs_folder: Path, slug: str, commit: str, module_name: str) -> ModuleType:
    """The module ``jobs/<module_name>.py`` of ``commit``; raises JobNotFound when the file does not exist."""
    if not (jobs_folder / f"{module_name}.py").is_file():
        raise JobNotFound(f"No job module {module_name!r} in commit {commit}")
    return importlib.import_module(f"{_package(jobs_folder, slug, commit)}.{module_name}")


def discover_commit(jobs_folder: Path, slug: str, commit: str) -> Discovery:
    """Every Job class in the commit's top-level job modules; a module that fails to import is reported, not fatal."""
    found = Discovery()
    source = f"git.{slug}"
    for path in sorted(jobs_folder.glob("*.py")):
        if path.stem.startswith("_"):
            continue
        try:
            module = import_job_module(jobs_folder, slug, commit, path.stem)
        except Exception as exc:  # noqa: BLE001 - one broken module must not hide the others
            logger.error("Error loading jobs from %s at %s: %s", path.name, commit, exc)
            found.errors[path.stem] = f"{type(exc).__name__}: {exc}"
            continue
        found.jobs.update(job_classes(module, source, path.stem))
    return found


def load_job_class(jobs_folder: Path, commit: str, class_path: str) -> type[Job]:
    """The class ``class_path`` names, from ``commit``; raises JobNotFound when the commit has no such class."""
    source, module_name, _class_name = split_class_path(class_path)
    slug = source.removeprefix("git.")
    try:
        module = import_job_module(jobs_folder, slug, commit, module_name)
    except JobNotFound:
        raise
    except Exception as exc:
        raise JobNotFound(f"Job module for {class_path} failed to import at {commit}: "
                          f"{type(exc).__name__}: {exc}") from exc
    job_class = job_classes(module, source, module_name).get(class_path)
    if job_class is None:
        raise JobNotFound(f'Job "{class_path}" not found in commit {commit}')
    return job_class
