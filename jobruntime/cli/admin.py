"""Schema, Job record refresh and sample data."""

from __future__ import annotations

import click

from jobruntime.cli.common import CommandError, get_runtime


@click.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    from jobruntime.store.database import migrate as run_migrations

    runtime = get_runtime()
    run_migrations(runtime.engine)
    click.echo(f"Database at {runtime.engine.url.render_as_string(hide_password=True)} is up to date.")


@click.command()
def sync() -> None:
    """Create or refresh Job records from JOBS_ROOT (new jobs start disabled)."""
    from jobruntime.authoring.discovery import discover
    from jobruntime.authoring.records import sync as sync_records

    runtime = get_runtime()
    try:
        found = discover(runtime.settings.jobs_root, tuple(runtime.settings.plugin_job_modules))
    except FileNotFoundError as exc:
        raise CommandError(str(exc)) from exc
    with runtime.session() as session:
        report = sync_records(session, found)
        session.commit()
    for class_path in report.created:
        click.echo(f"Created Job record {class_path}")
    for class_path in report.refreshed:
        click.echo(f"Refreshed Job record {class_path}")
    for class_path in report.uninstalled:
        click.echo(f"Marked Job record {class_path} as no longer installed")
    for where, error in report.errors.items():
        click.echo(f"Error in {where}: {error}", err=True)
    if report.errors:
        raise SystemExit(1)


@click.command()
def demo() -> None:
    """Load sample inventory (sites, devices, cables, prefixes) for the example jobs."""
    from jobruntime.store.demo import load_demo_data

    runtime = get_runtime()
    with runtime.session() as session:
        summary = load_demo_data(session)
        session.commit()
    click.echo("Sample inventory loaded: " + ", ".join(f"{count} {name}" for name, count in summary.items()))
