"""Finding Job classes: local modules under JOBS_ROOT and plugin packages.

Each file in JOBS_ROOT is its own module (no imports between job files), loaded
under a private name so a job file called ``json.py`` cannot shadow the standard
library. Only classes defined in the module itself become jobs, never imported bases.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from jobruntime.authoring.job import Job

logger = logging.getLogger(__name__)

_LOCAL_PACKAGE = "jobruntime_local_jobs"
_local_modules: dict[Path, tuple[bytes, ModuleType]] = {}  # by file: (content digest, module)


class JobNotFound(LookupError):
    """No loadable Job class answers to a class_path."""


class InvalidClassPath(ValueError):
    """A job argument that is not of the form ``<source>/<module>/<Class>``."""


@dataclass
class Discovery:
    """Everything found in one pass: classes by class_path, and modules that failed to import."""

    jobs: dict[str, type[Job]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def split_class_path(class_path: str) -> tuple[str, str, str]:
    """Split and check a class_path; raises InvalidClassPath with the expected form."""
    parts = class_path.split("/")
    if len(parts) != 3 or not all(parts) or parts[0] not in ("local", "plugins"):
        raise InvalidClassPath(
            f'Job must be specified in the class path form: "<grouping_name>/<module_name>/<JobClassName>"'
            f' (got "{class_path}"; the source is "local" or "plugins")'
        )
    return parts[0], parts[1], parts[2]


def _job_classes(module: ModuleType, source: str, module_name: str) -> dict[str, type[Job]]:
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
    """
    path = jobs_root / f"{module_name}.py"
    try:
        digest = hashlib.blake2b(path.read_bytes(), digest_size=16).digest()
    except (FileNotFoundError, IsADirectoryError):
        raise JobNotFound(f"No job module {module_name!r} in {jobs_root}") from None
    qualified = f"{_LOCAL_PACKAGE}.{module_name}"
    cached = _local_modules.get(path)
    if cached is not None and cached[0] == digest and sys.modules.get(qualified) is cached[1]:
        return cached[1]
    spec = importlib.util.spec_from_file_location(qualified, path)
    if spec is None or spec.loader is None:
        raise JobNotFound(f"Cannot load job module {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[qualified] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(qualified, None)
        _local_modules.pop(path, None)
        raise
    _local_modules[path] = (digest, module)
    return module


def _check_jobs_root(jobs_root: Path) -> None:
    if not (jobs_root / "__init__.py").is_file():
        raise FileNotFoundError(f"JOBS_ROOT {jobs_root} must exist and contain __init__.py")


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
        result.jobs.update(_job_classes(module, "local", path.stem))
    for dotted in plugin_modules:
        try:
            module = importlib.import_module(dotted)
        except Exception as exc:  # noqa: BLE001
            logger.error("Error loading plugin jobs from %s: %s", dotted, exc)
            result.errors[f"plugins/{dotted}"] = f"{type(exc).__name__}: {exc}"
            continue
        result.jobs.update(_job_classes(module, "plugins", dotted))
    return result


def load_job_class(class_path: str, jobs_root: Path) -> type[Job]:
    """Import the module behind ``class_path`` (again if its file changed) and return its class."""
    source, module_name, class_name = split_class_path(class_path)
    try:
        if source == "local":
            _check_jobs_root(jobs_root)
            module = load_local_module(jobs_root, module_name)
        else:
            module = importlib.import_module(module_name)
    except JobNotFound:
        raise
    except Exception as exc:
        raise JobNotFound(f"Job module for {class_path} failed to import: {type(exc).__name__}: {exc}") from exc
    job_class = _job_classes(module, source, module_name).get(class_path)
    if job_class is None:
        raise JobNotFound(f'Job "{class_path}" not found')
    return job_class
