"""Finding Job classes: local modules under JOBS_ROOT and plugin packages.

Jobs from Git repositories (``git.<slug>/...``) are loaded by ``jobruntime.sources``,
which knows the commit a run is pinned to; here their class paths are only checked.

Each file in JOBS_ROOT is its own module (no imports between job files), loaded
under a private name so a job file called ``json.py`` cannot shadow the standard
library. While a job module is imported, Nautobot 1.x's own import lines work
(``jobruntime.authoring.compat``). Only classes defined in the module itself become jobs, never imported bases.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import logging
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from jobruntime.authoring.compat.finder import nautobot_names
from jobruntime.authoring.job import Job
from jobruntime.core.errors import RefusalError

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "jobruntime.jobs"
_LOCAL_PACKAGE = "jobruntime_local_jobs"
SETTLED_NS = 2_000_000_000  # a job file's modification time is trusted once this old (see load_local_module)
_GIT_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")
_local_modules: dict[str, _Loaded] = {}  # by file path


class JobNotFound(RefusalError, LookupError):
    """No loadable Job class answers to a class_path."""


class InvalidClassPath(RefusalError, ValueError):
    """A job argument that is not of the form ``<source>/<module>/<Class>``."""


@dataclass
class Discovery:
    """Everything found in one pass: classes by class_path, and modules that failed to import."""

    jobs: dict[str, type[Job]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def is_source(source: str) -> bool:
    """Whether ``source`` names a job source: ``local``, ``plugins`` or ``git.<repository slug>``."""
    return source in ("local", "plugins") or (source.startswith("git.") and bool(_GIT_SLUG.fullmatch(source[4:])))


def split_class_path(class_path: str) -> tuple[str, str, str]:
    """Split and check a class_path; raises InvalidClassPath with the expected form."""
    parts = class_path.split("/")
    if len(parts) != 3 or not all(parts) or not is_source(parts[0]):
        raise InvalidClassPath(
            f'Job must be specified in the class path form: "<grouping_name>/<module_name>/<JobClassName>"'
            f' (got "{class_path}"; the source is "local", "plugins" or "git.<repository slug>")'
        )
    return parts[0], parts[1], parts[2]


def job_classes(module: ModuleType, source: str, module_name: str) -> dict[str, type[Job]]:
    """The Job classes defined in ``module`` itself, by class_path, marked with their source and module name."""
    found: dict[str, type[Job]] = {}
    for attribute in vars(module).values():
        if inspect.isclass(attribute) and issubclass(attribute, Job) and attribute.__module__ == module.__name__:
            attribute.source = source
            attribute.module_name = module_name
            found[attribute.class_path()] = attribute
    return found


def load_local_module(jobs_root: Path, module_name: str) -> ModuleType:
    """Import ``<jobs_root>/<module_name>.py``, again whenever its content changed.

    A worker runs the same few modules thousands of times, and compiling one costs
    more than the run itself, so an unchanged file (same bytes) keeps its module
    object, module-level state included. An edited file is picked up at the next run.
    The file is read only when its size, modification time or inode changed: a run
    then costs one ``stat``, and a file touched but not changed keeps its module. A
    modification time is trusted only once it is ``SETTLED_NS`` old, since the kernel
    stamps files at its clock tick and two quick same-size writes could share one.
    """
    path = os.path.join(jobs_root, f"{module_name}.py")  # a str: making a Path costs more than the stat
    try:
        stamp = _stamp(os.stat(path))
    except (FileNotFoundError, NotADirectoryError):
        _check_jobs_root(jobs_root)
        raise JobNotFound(f"No job module {module_name!r} in {jobs_root}") from None
    qualified = f"{_LOCAL_PACKAGE}.{module_name}"
    cached = _local_modules.get(path)
    current = cached is not None and sys.modules.get(qualified) is cached.module
    if current and cached.settled and cached.stamp == stamp:
        return cached.module
    _check_jobs_root(jobs_root)
    try:
        with open(path, "rb") as source:
            digest = hashlib.blake2b(source.read(), digest_size=16).digest()
    except (FileNotFoundError, IsADirectoryError):
        raise JobNotFound(f"No job module {module_name!r} in {jobs_root}") from None
    if current and cached.digest == digest:
        _local_modules[path] = _Loaded.of(stamp, digest, cached.module)
        return cached.module
    spec = importlib.util.spec_from_file_location(qualified, path)
    if spec is None or spec.loader is None:
        raise JobNotFound(f"Cannot load job module {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[qualified] = module
    try:
        with nautobot_names():
            spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(qualified, None)
        _local_modules.pop(path, None)
        raise
    _local_modules[path] = _Loaded.of(stamp, digest, module)
    return module


@dataclass(frozen=True)
class _Loaded:
    """A job module as imported, with what its file looked like then."""

    stamp: tuple[int, int, int]  # size, modification time (ns), inode
    digest: bytes  # of its content
    module: ModuleType
    settled: bool  # the modification time was old enough to trust when the stamp was taken

    @classmethod
    def of(cls, stamp: tuple[int, int, int], digest: bytes, module: ModuleType) -> _Loaded:
        return cls(stamp, digest, module, time.time_ns() - stamp[1] >= SETTLED_NS)


def _stamp(status: os.stat_result) -> tuple[int, int, int]:
    return status.st_size, status.st_mtime_ns, status.st_ino


def import_plugin_module(dotted: str) -> ModuleType:
    """Import a plugin's job module, with Nautobot's names answered as for local job files."""
    with nautobot_names():
        return importlib.import_module(dotted)


def _check_jobs_root(jobs_root: Path) -> None:
    if not (jobs_root / "__init__.py").is_file():
        raise FileNotFoundError(f"JOBS_ROOT {jobs_root} must exist and contain __init__.py")


def packaged_job_modules() -> list[str]:
    """Modules named by installed distributions' ``jobruntime.jobs`` entry points (``anyname = "package.module"``).

    Installing such a package is all it takes to offer its jobs as ``plugins/<package.module>/<Class>``.
    """
    return sorted({entry_point.value for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)})


def discover(jobs_root: Path, plugin_modules: tuple[str, ...] = ()) -> Discovery:
    """Import every job module; a module that fails to import is reported and skipped."""
    _check_jobs_root(jobs_root)
    result = Discovery()
    for path in sorted(jobs_root.glob("*.py")):
        if path.stem.startswith("_"):
            continue
        try:
            module = load_local_module(jobs_root, path.stem)
        except Exception as exc:  # noqa: BLE001 - one broken module must not hide the others
            logger.error("Error loading jobs from %s: %s", path, exc)
            result.errors[f"local/{path.stem}"] = f"{type(exc).__name__}: {exc}"
            continue
        result.jobs.update(job_classes(module, "local", path.stem))
    for dotted in plugin_modules:
        try:
            module = import_plugin_module(dotted)
        except Exception as exc:  # noqa: BLE001
            logger.error("Error loading plugin jobs from %s: %s", dotted, exc)
            result.errors[f"plugins/{dotted}"] = f"{type(exc).__name__}: {exc}"
            continue
        result.jobs.update(job_classes(module, "plugins", dotted))
    return result


def load_job_class(class_path: str, jobs_root: Path) -> type[Job]:
    """Import the module behind ``class_path`` (again if its file changed) and return its class."""
    source, module_name, class_name = split_class_path(class_path)
    if source.startswith("git."):
        raise JobNotFound(f'Job "{class_path}" comes from a Git repository; it is loaded at the commit its run is pinned to')
    try:
        if source == "local":
            module = load_local_module(jobs_root, module_name)
        else:
            module = import_plugin_module(module_name)
    except JobNotFound:
        raise
    except Exception as exc:
        raise JobNotFound(f"Job module for {class_path} failed to import: {type(exc).__name__}: {exc}") from exc
    job_class = job_classes(module, source, module_name).get(class_path)
    if job_class is None:
        raise JobNotFound(f'Job "{class_path}" not found')
    return job_class
