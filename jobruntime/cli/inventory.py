"""Inventory as a document: ``inventory export`` writes it, ``inventory apply`` creates or updates from it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from jobruntime.cli.common import CommandError, get_runtime


@click.group()
def inventory() -> None:
    """Load or dump inventory objects as YAML (or JSON), matched by natural key."""


@inventory.command()
@click.argument("document_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-u", "--username", help="The user the changes are recorded against.")
@click.option("--dry-run", is_flag=True, help="Show what would change, then roll back.")
def apply(document_file: Path, username: str | None, dry_run: bool) -> None:
    """Create or update the objects a document lists, in one transaction (change context "cli")."""
    import yaml

    from jobruntime.changes.hooks import write_with_hook_runs
    from jobruntime.changes.inventory import InventoryError
    from jobruntime.changes.inventory import apply as apply_document
    from jobruntime.changes.recorder import CLI, ChangeContext, recording
    from jobruntime.models import bind_session
    from jobruntime.run.auth import find_user
    from jobruntime.store.prebuilt import in_session

    try:
        document = yaml.safe_load(document_file.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CommandError(f"{document_file}: not YAML or JSON ({exc})") from exc
    runtime = get_runtime()
    with runtime.session() as session, bind_session(session):
        user = find_user(in_session(session), username) if username else None
        if username and user is None:
            raise CommandError(f"No such user: {username}")
        context = ChangeContext(name=CLI, detail=f"inventory apply {document_file.name}",
                                user_id=user.id if user else None, user_name=user.username if user else "")
        with recording(session, None if dry_run else context) as changes:
            try:
                report = apply_document(session, document)
            except InventoryError as exc:
                session.rollback()
                raise CommandError(f"{document_file}: {exc}") from exc
            if dry_run:
                session.rollback()
            else:
                events = write_with_hook_runs(in_session(session), changes.take(), runtime.settings, events=True)
                session.commit()
                runtime.committed(events)
    for action, label, name, changed in report.lines:
        detail = f" ({', '.join(changed)})" if changed else ""
        click.echo(f"{action} {label} {name}{detail}")
    summary = ", ".join(f"{report.count(action)} {action}" for action in ("created", "updated", "unchanged"))
    click.echo(f"{summary}{' (dry run: nothing was saved)' if dry_run else ''}")


@inventory.command()
@click.option("--model", "labels", multiple=True, help="Only this model (repeatable), e.g. dcim.device.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here (default: stdout).")
@click.option("--json", "as_json", is_flag=True, help="Write JSON instead of YAML.")
def export(labels: tuple[str, ...], output: Path | None, as_json: bool) -> None:
    """Write inventory objects as a document that `inventory apply` reads back."""
    import yaml

    from jobruntime.changes.inventory import InventoryError
    from jobruntime.changes.inventory import export as export_document
    from jobruntime.models import bind_session

    with get_runtime().session() as session, bind_session(session):
        try:
            document = export_document(session, [label.lower() for label in labels] or None)
        except InventoryError as exc:
            raise CommandError(str(exc)) from exc
    text = json.dumps(document, indent=2) if as_json else yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
        click.echo(f"Wrote {sum(len(rows) for rows in document.values())} objects to {output}")
