"""Which Nautobot or Django names a job file uses that jobruntime does not provide, found without running it.

The file is read, never imported: a job that would fail to import, or that
changes data at import time, can still be checked. Every ``import`` and
``from ... import`` of a ``nautobot.*`` or ``django.*`` name is looked up in
what the import hook provides, and so is each attribute read from such a module
(``models.Tag``) or from ``django.conf.settings`` (``settings.BASE_PATH``).
"""

from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass
from pathlib import Path

from jobruntime.authoring.compat.django_settings import NautobotSettings
from jobruntime.authoring.compat.finder import PACKAGES, PROVIDERS, TOP_LEVEL
from jobruntime.core.errors import RefusalError

_SETTINGS = "django.conf.settings"


@dataclass(frozen=True)
class MissingName:
    """A name the file uses, at ``line``, that jobruntime does not provide."""

    line: int
    name: str


class UncheckableFile(RefusalError, ValueError):
    """The file cannot be read or parsed as Python; the message says which and where."""


def check_file(path: Path) -> list[MissingName]:
    """Every Nautobot or Django name ``path`` uses that is not provided, in file order.

    Raises UncheckableFile when the file cannot be read or is not valid Python.
    """
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UncheckableFile(f"cannot read {path}: {exc}") from None
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise UncheckableFile(f"{path}:{exc.lineno}: not valid Python: {exc.msg}") from None
    checker = _Checker()
    checker.visit(tree)
    return sorted(set(checker.missing), key=lambda missing: (missing.line, missing.name))


def _ours(dotted: str) -> bool:
    return dotted.split(".", 1)[0] in TOP_LEVEL


def _is_module(dotted: str) -> bool:
    return dotted in PROVIDERS or dotted in PACKAGES


def _provides(module: str, attribute: str) -> bool:
    """Whether the provided ``module`` answers ``attribute`` (a value, or a provided submodule)."""
    if _is_module(f"{module}.{attribute}"):
        return True
    provider = PROVIDERS.get(module)
    return provider is not None and attribute in importlib.import_module(provider).__all__


class _Checker(ast.NodeVisitor):
    def __init__(self) -> None:
        self.missing: list[MissingName] = []
        self.bound: dict[str, str] = {}  # local name -> the dotted Nautobot/Django name it stands for

    def _report(self, node: ast.AST, name: str) -> None:
        self.missing.append(MissingName(getattr(node, "lineno", 0), name))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if not _ours(alias.name):
                continue
            if not _is_module(alias.name):
                self._report(node, alias.name)
                continue
            if alias.asname:
                self.bound[alias.asname] = alias.name
            else:
                top = alias.name.split(".", 1)[0]
                self.bound[top] = top

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level or not _ours(module):
            return
        for alias in node.names:
            if alias.name == "*":
                if not _is_module(module):
                    self._report(node, f"{module}.*")
                continue
            dotted = f"{module}.{alias.name}"
            if not _is_module(module) or not _provides(module, alias.name):
                self._report(node, dotted)
                continue
            self.bound[alias.asname or alias.name] = dotted

    def visit_Attribute(self, node: ast.Attribute) -> None:
        dotted = self._dotted(node)
        if dotted is not None:
            self._check_path(node, dotted)
        else:
            self.generic_visit(node)

    def _dotted(self, node: ast.AST) -> str | None:
        """``a.b.c`` with ``a`` bound to a Nautobot/Django name, spelled out in full; else None."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or node.id not in self.bound:
            return None
        return ".".join([self.bound[node.id], *reversed(parts)])

    def _check_path(self, node: ast.AST, dotted: str) -> None:
        """Walk the modules of ``dotted``; the first name after the last module must be provided."""
        parts = dotted.split(".")
        for depth in range(1, len(parts)):
            module, attribute = ".".join(parts[:depth]), parts[depth]
            if module == _SETTINGS:
                if attribute not in NautobotSettings.NAMES:
                    self._report(node, f"{module}.{attribute}")
                return
            if not _is_module(module):
                continue
            if not _provides(module, attribute):
                self._report(node, f"{module}.{attribute}")
                return


def describe(path: Path, missing: list[MissingName]) -> list[str]:
    """One line per missing name, ``FILE:LINE: NAME is not provided``, as editors and CI read them."""
    return [f"{path}:{item.line}: {item.name} is not provided by jobruntime" for item in missing]


__all__ = ["MissingName", "UncheckableFile", "check_file", "describe"]
