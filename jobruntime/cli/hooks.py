"""Managing job hooks: create, list, show, enable, disable, delete."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from jobruntime.cli.common import CommandError, echo_json, get_runtime
from jobruntime.cli.jobs import _record

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from jobruntime.models import JobHook

ACTIONS = ("create", "update", "delete")


@click.group()
def hooks() -> None:
    """Manage job hooks: runs of a receiver job started by committed changes."""


def _split(raw: str) -> list[str]:
    return [part.strip().lower() for part in raw.split(",") if part.strip()]


def _find(session: Session, name: str) -> JobHook:
    from sqlalchemy import select

    from jobruntime.models import JobHook

    hook = session.scalars(select(JobHook).where(JobHook.name == name)).first()
    if hook is None:
        raise CommandError(f'No job hook "{name}" (see `jobruntime hooks list`)')
    return hook


def _describe(hook: JobHook) -> dict[str, Any]:
    return {
        "name": hook.name,
        "slug": hook.slug,
        "job": hook.job.class_path,
        "content_types": list(hook.content_types),
        "actions": list(hook.actions),
        "enabled": hook.enabled,
    }


def _save(session: Session, hook: JobHook) -> None:
    """Check the hook's rules, then commit; a broken rule is the command's error."""
    from jobruntime.changes.hooks import InvalidJobHook, check_hook
    from jobruntime.models import ValidationError, bind_session

    try:
        with bind_session(session):
            check_hook(session, hook)
            hook.validated_save()
    except (InvalidJobHook, ValidationError) as exc:
        session.rollback()
        raise CommandError(str(exc)) from exc
    session.commit()


@hooks.command()
@click.argument("name")
@click.option("--job", "class_path", required=True, help="The receiver job's class path.")
@click.option("--content-types", required=True, help="Comma-separated models, e.g. dcim.device,dcim.interface.")
@click.option("--on", "actions", required=True, help="Comma-separated actions: create, update, delete.")
@click.option("--disabled", is_flag=True, help="Create the hook switched off.")
def create(name: str, class_path: str, content_types: str, actions: str, disabled: bool) -> None:
    """Create a job hook."""
    from jobruntime.models import JobHook

    chosen = _split(actions)
    unknown = sorted(set(chosen) - set(ACTIONS))
    if unknown:
        raise CommandError(f"Unknown action {', '.join(unknown)}; choose from create, update, delete")
    with get_runtime().session() as session:
        hook = JobHook(name=name, job=_record(session, class_path), content_types=_split(content_types),
                       enabled=not disabled, **{f"type_{action}": action in chosen for action in ACTIONS})
        _save(session, hook)
    click.echo(f'Created job hook "{name}"')


@hooks.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_hooks(as_json: bool) -> None:
    """List job hooks by name."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from jobruntime.models import JobHook

    with get_runtime().session() as session:
        rows = [_describe(hook) for hook in
                session.scalars(select(JobHook).options(selectinload(JobHook.job)).order_by(JobHook.name))]
    if as_json:
        echo_json(rows)
        return
    from jobruntime.cli.tables import print_table

    print_table(
        ("name", "job", "content_types", "actions", "enabled"),
        [(row["name"], row["job"], ",".join(row["content_types"]), ",".join(row["actions"]), str(row["enabled"]))
         for row in rows],
    )


@hooks.command()
@click.argument("name")
def show(name: str) -> None:
    """Print a job hook as JSON."""
    with get_runtime().session() as session:
        echo_json(_describe(_find(session, name)))


def _set_enabled(name: str, enabled: bool) -> None:
    with get_runtime().session() as session:
        hook = _find(session, name)
        hook.enabled = enabled
        _save(session, hook)
    click.echo(f'Job hook "{name}" {"enabled" if enabled else "disabled"}')


@hooks.command()
@click.argument("name")
def enable(name: str) -> None:
    """Switch a job hook on."""
    _set_enabled(name, True)


@hooks.command()
@click.argument("name")
def disable(name: str) -> None:
    """Switch a job hook off: its changes start no runs."""
    _set_enabled(name, False)


@hooks.command()
@click.argument("name")
def delete(name: str) -> None:
    """Delete a job hook."""
    with get_runtime().session() as session:
        session.delete(_find(session, name))
        session.commit()
    click.echo(f'Deleted job hook "{name}"')
