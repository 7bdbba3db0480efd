"""Setup and infrastructure failures, told to the user in one line instead of a traceback.

A missing schema, an unreachable database or broker, or a bad ``JOBRUNTIME_*``
setting is something the user fixes outside the code, so it exits 4 (could not
be done) with what to do, not 1 (the code for a failed job) with a traceback.
Anything else is left alone: a genuine bug must still show its traceback.

The exception classes are imported only once something has gone wrong, so the
command line still starts without loading the database or broker libraries.
"""

from __future__ import annotations

from typing import Any

import click

from jobruntime.cli.common import DATABASE_URL_KEY, CommandError


class SetupErrorGroup(click.Group):
    """The top-level group: a sub-command's setup failure becomes a CommandError; other exceptions pass."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            message = describe(exc, ctx.meta.get(DATABASE_URL_KEY))
            if message is None:
                raise
            raise CommandError(message) from exc


def describe(exc: Exception, database_url: str | None) -> str | None:
    """What the user must fix, or None when ``exc`` is not a setup or infrastructure failure.

    ``database_url`` is the URL the command used, password hidden, for the message.
    """
    return _settings_problem(exc) or _broker_problem(exc) or _database_problem(exc, database_url)


def _settings_problem(exc: Exception) -> str | None:
    from jobruntime.core.settings import InvalidSetting

    return str(exc) if isinstance(exc, InvalidSetting) else None


def _broker_problem(exc: Exception) -> str | None:
    from jobruntime.bus.broker import BrokerUnavailable

    return str(exc) if isinstance(exc, BrokerUnavailable) else None


def _database_problem(exc: Exception, database_url: str | None) -> str | None:
    import sqlite3

    import psycopg
    import psycopg.errors
    from sqlalchemy.exc import DBAPIError

    error = exc.orig if isinstance(exc, DBAPIError) else exc
    reason = " ".join(str(error).split())
    where = f" at {database_url}" if database_url else ""
    if isinstance(error, psycopg.errors.UndefinedTable) or (
        isinstance(error, sqlite3.OperationalError) and reason.startswith("no such table")
    ):
        missing = str(error).splitlines()[0]  # PostgreSQL goes on to quote the statement
        return f"The database{where} has no jobruntime schema yet ({missing}): run `jobruntime migrate`"
    # psycopg raises the base class itself, without an SQLSTATE, when there is no usable connection.
    if type(error) is psycopg.OperationalError or (
        isinstance(error, sqlite3.OperationalError) and reason == "unable to open database file"
    ):
        return f"Cannot reach the database{where}: {reason}"
    return None
