"""How a run looks in a terminal: the log as it happens, then the reference's report."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

import click

_COLOURS = {"success": "green", "info": "cyan", "warning": "yellow", "failure": "red"}
_VERDICT = {"failed": "FAILED", "errored": "ERRORED"}


def stamp() -> str:
    return datetime.now(timezone.utc).strftime("[%H:%M:%S]")


def _level(level: str) -> str:
    return click.style(level, fg=_COLOURS.get(level)) if level in _COLOURS else level


def entry_line(entry: Any) -> str:
    """``\\t\\t<level>: [<object>: ]<message>`` for a log entry or an ORM row."""
    if entry.log_object:
        return f"\t\t{_level(entry.log_level)}: {entry.log_object}: {entry.message}"
    return f"\t\t{_level(entry.log_level)}: {entry.message}"


class LivePrinter:
    """Prints entries as the job writes them, with a grouping header when it changes."""

    def __init__(self) -> None:
        self._grouping: str | None = None

    def __call__(self, entry: Any) -> None:
        if entry.grouping != self._grouping:
            self._grouping = entry.grouping
            click.echo(f"\t{entry.grouping}")
        click.echo(entry_line(entry))


def print_summary(entries: Iterable[Any]) -> None:
    """Per-grouping counts, alphabetically, as the reference's runjob prints them."""
    counts: dict[str, dict[str, int]] = {}
    for entry in entries:
        per_level = counts.setdefault(entry.grouping, dict.fromkeys(("success", "info", "warning", "failure"), 0))
        if entry.log_level in per_level:
            per_level[entry.log_level] += 1
    for grouping in sorted(counts):
        levels = counts[grouping]
        click.echo(
            f"\t{grouping}: {levels['success']} success, {levels['info']} info, "
            f"{levels['warning']} warning, {levels['failure']} failure"
        )


def print_verdict(class_path: str, status: str, duration: str | None, output: str | None, reason: str | None) -> None:
    if output:
        click.echo(output)
    verdict = _VERDICT.get(status, "SUCCESS")
    click.echo(f"{stamp()} {class_path}: {verdict}" + (f" ({reason})" if reason and status == "errored" else ""))
    click.echo(f"{stamp()} {class_path}: Duration {duration}")
    click.echo(f"{stamp()} Finished")
