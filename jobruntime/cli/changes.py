"""Reading the change log: list, show (with the difference), prune."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid

import click

from jobruntime.cli.common import CommandError, echo_json, get_runtime

_AGE = re.compile(r"(\d+)([dhm])")
_AGE_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


@click.group()
def changes() -> None:
    """Inspect the change log (every create, update and delete of inventory objects)."""


def _uuid(raw: str | None, what: str) -> uuid.UUID | None:
    if raw is None:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise CommandError(f"{raw!r} is not {what} (a UUID)") from exc


@changes.command("list")
@click.option("--object-type", help="Only changes of this model, e.g. dcim.device.")
@click.option("--object-id", help="Only changes of this object (its id).")
@click.option("--request-id", help="Only changes made by this request (a run's JobResult id).")
@click.option("--action", type=click.Choice(["create", "update", "delete"]), help="Only this action.")
@click.option("--limit", default=50, show_default=True, help="How many of the newest changes.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_changes(object_type: str | None, object_id: str | None, request_id: str | None, action: str | None,
                 limit: int, as_json: bool) -> None:
    """List the newest changes first."""
    from jobruntime.changes.history import ChangeFilter, change_json
    from jobruntime.changes.history import list_changes as read

    where = ChangeFilter(object_type=object_type.lower() if object_type else None,
                         object_id=_uuid(object_id, "an object id"),
                         request_id=_uuid(request_id, "a request id"), action=action)
    with get_runtime().session() as session:
        rows = [change_json(change) for change in read(session, where, limit)]
    if as_json:
        echo_json(rows)
        return
    from jobruntime.cli.tables import print_table

    print_table(
        ("id", "time", "user", "action", "type", "object", "context"),
        [(row["id"], row["time"], row["user_name"], row["action"], row["changed_object_type"], row["object_repr"],
          row["change_context"]) for row in rows],
    )


@changes.command()
@click.argument("change_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(change_id: str, as_json: bool) -> None:
    """Show one change, its snapshot and its difference to the object's previous snapshot."""
    from jobruntime.changes.history import change_json, previous_snapshot
    from jobruntime.models import ObjectChange

    with get_runtime().session() as session:
        change = session.get(ObjectChange, _uuid(change_id, "a change id"))
        if change is None:
            raise CommandError(f"No change {change_id}")
        row = change_json(change, previous_snapshot(session, change), detail=True)
    if as_json:
        echo_json(row)
        return
    for key, value in row.items():
        if key not in ("object_data", "snapshots"):
            click.echo(f"{key}: {value if value is not None else ''}")
    differences = row["snapshots"]["differences"]
    for side in ("added", "removed"):
        click.echo(f"{side}:")
        for key, value in (differences[side] or {}).items():
            click.echo(f"  {key}: {json.dumps(value)}")


def _age(raw: str) -> dt.timedelta:
    match = _AGE.fullmatch(raw.strip())
    if match is None:
        raise CommandError(f"{raw!r} is not an age; write a number and d, h or m, e.g. 90d")
    return dt.timedelta(**{_AGE_UNITS[match.group(2)]: int(match.group(1))})


@changes.command()
@click.option("--older-than", required=True, help="Age of the changes to delete: 90d, 12h or 30m.")
def prune(older_than: str) -> None:
    """Delete change records older than the given age (the objects themselves are untouched)."""
    from jobruntime.changes.history import prune as delete_older

    age = _age(older_than)
    with get_runtime().session() as session:
        count = delete_older(session, age)
        session.commit()
    click.echo(f"Deleted {count} change records older than {older_than}")
