"""``jobruntime infra``: set up what the runtime needs from the services it uses."""

from __future__ import annotations

import click

from jobruntime.cli.common import CommandError

UPLOADS_EXPIRE_DAYS = 1  # uploads live for their run; a lost worker's are gone a day later


@click.group()
def infra() -> None:
    """Prepare the services (storage) the runtime uses."""


@infra.command("storage-init")
def storage_init() -> None:
    """Create the storage (JOBRUNTIME_STORAGE_URL) if missing and expire uploads/ after a day; idempotent."""
    from jobruntime.core.settings import Settings
    from jobruntime.storage import StoreError, open_store
    from jobruntime.storage.uploads import UPLOADS

    try:
        done = open_store(Settings().effective_storage_url).initialize(f"{UPLOADS}/", UPLOADS_EXPIRE_DAYS)
    except StoreError as exc:
        raise CommandError(str(exc)) from exc
    for line in done:
        click.echo(line)
