"""How a run looks in a terminal: the log as it happens, then the reference's report."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import click

from jobruntime.core.clock import utcnow

_COLOURS = {"success": "green", "info": "cyan", "warning": "yellow", "failure": "red"}
_VERDICT = {"completed": "SUCCESS", "failed": "FAILED", "errored": "ERRORED"}


def stamp(at: datetime | None = None) -> str:
    """``[HH:MM:SS]`` UTC of ``at``, or of now for a run being followed."""
    return (at or utcnow()).strftime("[%H:%M:%S]")


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


def print_log(entries: Iterable[Any]) -> None:
    """Stored entries, in the order given, as they were printed live."""
    printer = LivePrinter()
    for entry in entries:
        printer(entry)


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


def print_verdict(
    class_path: str, status: str, duration: str | None, output: str | None, reason: str | None,
    at: datetime | None = None,
) -> None:
    """The reference's closing lines for an ended run; ``at`` is when it ended (default: now, for a followed run)."""
    if output:
        click.echo(output)
    verdict = _VERDICT.get(status, status.upper())
    click.echo(f"{stamp(at)} {class_path}: {verdict}" + (f" ({reason})" if reason and status == "errored" else ""))
    if duration is not None:
        click.echo(f"{stamp(at)} {class_path}: Duration {duration}")
    click.echo(f"{stamp(at)} Finished")


def print_stored_result(result: Any, entries: Sequence[Any]) -> None:
    """A stored run: its times, its log and counts, then the verdict once it has ended, or where it stands."""
    times = {"Created": result.created, "started": result.started, "completed": result.completed}
    click.echo(f"{result.name}  {result.status}" + (f" ({result.reason})" if result.reason else ""))
    click.echo(", ".join(f"{name} {at:%Y-%m-%d %H:%M:%S} UTC" for name, at in times.items() if at))
    if result.schedule_id is not None:
        click.echo(f"Run by schedule {result.schedule_id}")
    if result.source:
        click.echo(f"source: {result.source}")
    print_log(entries)
    print_summary(entries)
    if result.status in _VERDICT:
        print_verdict(result.name, result.status, result.duration, (result.data or {}).get("output"), None,
                      at=result.completed)
    else:
        click.echo(f"{stamp(result.started or result.created)} {result.name}: {result.status.upper()}")
