"""Alembic environment: runs migrations on the connection ``jobruntime.store.database.migrate`` passes in,
or on an engine for ``-x url=...`` / ``JOBRUNTIME_DATABASE_URL`` when invoked from the alembic CLI."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy.engine import Connection

from jobruntime.models import declare_all
from jobruntime.store.database import make_engine

config = context.config
target_metadata = declare_all().metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _cli_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get("JOBRUNTIME_DATABASE_URL")
    if not url:
        raise RuntimeError("Give the database with `alembic -x url=<sqlalchemy url> ...` or JOBRUNTIME_DATABASE_URL")
    return url


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    with make_engine(_cli_url()).begin() as connection:
        _run(connection)


if context.is_offline_mode():
    raise RuntimeError("Offline (--sql) migrations are not supported; run against a database URL")
run_migrations_online()
