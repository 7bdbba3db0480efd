"""The import hook that lets ``from nautobot.extras.jobs import Job`` load jobruntime's Job.

It is put on ``sys.meta_path`` only while jobruntime imports a job module
(:func:`nautobot_names`), last in line, and only for a top-level package
(``nautobot``, ``django``) that is not really installed: a process that has the
real Nautobot or Django always gets them. Modules it made stay in ``sys.modules``
once imported, as any import does, so a job that imports one of them again
inside ``run()`` gets the same module.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import Any

# Each name a Nautobot job may import, and the jobruntime module that provides it.
PROVIDERS: dict[str, str] = {
    "nautobot.extras.jobs": "jobruntime.authoring.compat.jobs",
    "nautobot.extras.scripts": "jobruntime.authoring.compat.scripts",
    "nautobot.extras.models": "jobruntime.authoring.compat.extras_models",
    "nautobot.extras.choices": "jobruntime.authoring.compat.extras_choices",
    "nautobot.dcim.models": "jobruntime.authoring.compat.dcim_models",
    "nautobot.dcim.choices": "jobruntime.authoring.compat.dcim_choices",
    "nautobot.ipam.models": "jobruntime.authoring.compat.ipam_models",
    "nautobot.tenancy.models": "jobruntime.authoring.compat.tenancy_models",
    "nautobot.utilities.utils": "jobruntime.authoring.compat.helpers",
    "nautobot.core.settings_funcs": "jobruntime.authoring.compat.settings_funcs",
    "django.conf": "jobruntime.authoring.compat.django_settings",
    "django.contrib.contenttypes.models": "jobruntime.authoring.compat.contenttypes",
    "django.core.exceptions": "jobruntime.authoring.compat.exceptions",
    "django.utils.text": "jobruntime.authoring.compat.django_text",
}
TOP_LEVEL = ("nautobot", "django")
_ALIAS_MARK = "__jobruntime_alias__"


def _packages() -> frozenset[str]:
    """Every dotted prefix of a provided name (``nautobot``, ``nautobot.extras``, ...): empty packages."""
    found = set()
    for name in PROVIDERS:
        parts = name.split(".")
        found.update(".".join(parts[:depth]) for depth in range(1, len(parts)))
    return frozenset(found - set(PROVIDERS))


PACKAGES = _packages()


def provided(name: str) -> bool:
    """Whether ``name`` is a module this hook answers (a provider or one of the packages above one)."""
    return name in PROVIDERS or name in PACKAGES


class _AliasLoader(importlib.abc.Loader):
    """Makes the module for one provided name: a view onto its jobruntime provider, or an empty package."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = ModuleType(spec.name)
        setattr(module, _ALIAS_MARK, True)
        provider_name = PROVIDERS.get(spec.name)
        if provider_name is None:
            module.__path__ = []
            return module
        provider = importlib.import_module(provider_name)
        module.__doc__ = provider.__doc__
        module.__file__ = provider.__file__
        module.__all__ = list(provider.__all__)

        def __getattr__(attribute: str) -> Any:  # noqa: N807 - PEP 562 module attribute
            if attribute in module.__all__:
                return getattr(provider, attribute)
            raise AttributeError(
                f"module {spec.name!r} has no attribute {attribute!r}: jobruntime does not provide it "
                f"(run `jobruntime jobs check FILE.py` to list every such name a job file uses)"
            )

        module.__getattr__ = __getattr__  # type: ignore[method-assign]
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the provider was imported when the module was made."""


class NautobotNamesFinder(importlib.abc.MetaPathFinder):
    """Answers the provided names under the top-level packages it was given, and nothing else."""

    def __init__(self, top_levels: Sequence[str]) -> None:
        self.top_levels = tuple(top_levels)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname.split(".", 1)[0] not in self.top_levels or not provided(fullname):
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(), is_package=fullname in PACKAGES)


def is_alias(module: ModuleType | None) -> bool:
    """Whether a module object was made by this hook (rather than being the real package)."""
    return module is not None and getattr(module, _ALIAS_MARK, False) is True


def really_installed(top_level: str) -> bool:
    """Whether the real package can be imported, asking every finder but this hook's own."""
    loaded = sys.modules.get(top_level)
    if loaded is not None and not is_alias(loaded):
        return True
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        if isinstance(finder, NautobotNamesFinder) or find_spec is None:
            continue
        if find_spec(top_level, None) is not None:
            return True
    return False


def _forget_aliases(top_level: str) -> None:
    """Drop this hook's modules of a package that is now really installed, so imports reach the real one."""
    for name in [name for name in sys.modules if name == top_level or name.startswith(top_level + ".")]:
        if is_alias(sys.modules[name]):
            del sys.modules[name]


@contextmanager
def nautobot_names() -> Iterator[tuple[str, ...]]:
    """Answer Nautobot's and Django's names while the body imports job code.

    Yields the top-level packages answered (none when both are really installed).
    """
    missing = []
    for top_level in TOP_LEVEL:
        if really_installed(top_level):
            _forget_aliases(top_level)
        else:
            missing.append(top_level)
    if not missing:
        yield ()
        return
    finder = NautobotNamesFinder(missing)
    sys.meta_path.append(finder)
    try:
        yield tuple(missing)
    except ImportError as exc:
        if not exc.name or exc.name.split(".", 1)[0] not in missing:
            raise
        raise type(exc)(
            f"{exc}: jobruntime does not provide it (`jobruntime jobs check FILE.py` lists every name a job "
            f"file uses that is not provided)",
            name=exc.name,
            path=exc.path,
        ) from exc
    finally:
        sys.meta_path.remove(finder)
