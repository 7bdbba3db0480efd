"""What the database behind an engine can do, by name, so no code asks which database it is.

jobruntime runs on PostgreSQL in production and on SQLite embedded; the two
differ in a handful of ways the run path depends on. Each difference is a
named flag here, and code reads the flag (``Capabilities.of(engine).skip_locked``)
rather than comparing dialect names, so a reader sees why a branch exists and a
new difference is added in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from sqlalchemy import Connection, Engine, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from jobruntime.core.errors import SetupError


class UnsupportedDatabase(SetupError, ValueError):
    """A database URL of a kind jobruntime does not run on; the message names the two it does."""


@dataclass(frozen=True)
class Capabilities:
    """The differences between the databases jobruntime runs on, each named for what depends on it."""

    name: str
    # SELECT ... FOR UPDATE SKIP LOCKED: several supervisors share the outbox, schedules and the reaper's work
    # without waiting on each other's rows.
    skip_locked: bool
    # COPY ... FROM STDIN writes a batch of log entries in one statement, outside any transaction.
    copy: bool
    # Another connection may write while a run's transaction is open (SQLite has one writer at a time), so a run
    # may claim late, and its log is written beside its transaction rather than inside it.
    concurrent_writes: bool
    # A lone statement may commit by itself on the driver connection, skipping BEGIN and COMMIT.
    autocommit_statements: bool
    # An INSERT inside a WITH clause: a run's decision and its outbox event written by one statement.
    writable_ctes: bool
    # Commits may skip waiting for the WAL flush (``synchronous_commit=off``) and be made durable later, together.
    relaxed_commits: bool
    # Concurrent migrations are serialised by an advisory lock (else by taking SQLite's write lock at BEGIN).
    advisory_locks: bool
    # ALTER TABLE rebuilds the table (SQLite): dropping the old copy would fire its dependants' ON DELETE actions,
    # so foreign keys are off while it migrates and checked before commit.
    alters_by_rebuilding: bool
    # Statements may be sent one after another without waiting for each answer (libpq's pipeline mode):
    # several statements whose results nothing needs in between cost one round trip.
    pipelines: bool
    # A datetime column keeps its time zone (timestamptz); SQLite keeps naive text, which is then written as UTC.
    zoned_datetimes: bool
    dialect: ModuleType

    @classmethod
    def of(cls, bind: Engine | Connection | Dialect | Any) -> Capabilities:
        """The capabilities of the database ``bind`` (an engine, a connection, or a dialect) talks to.

        Raises UnsupportedDatabase for a database other than PostgreSQL or SQLite.
        """
        dialect = bind if isinstance(bind, Dialect) else bind.dialect
        try:
            return _KNOWN[dialect.name]
        except KeyError:
            raise UnsupportedDatabase(
                f"jobruntime runs on PostgreSQL (postgresql+psycopg://...) or SQLite (sqlite:///...), not {dialect.name}"
            ) from None

    def insert(self, table: Table) -> Any:
        """An INSERT of ``table`` that knows ON CONFLICT (spelled per database)."""
        return self.dialect.insert(table)

    def skipping_locked(self, query: Any) -> Any:
        """``query`` locking the rows it selects, passing over rows another transaction holds, where it can.

        Without SKIP LOCKED (SQLite) the query is left as is: there the single writer already serialises.
        """
        return query.with_for_update(skip_locked=True) if self.skip_locked else query


POSTGRESQL = Capabilities(
    "postgresql", skip_locked=True, copy=True, concurrent_writes=True, autocommit_statements=True,
    writable_ctes=True, relaxed_commits=True, advisory_locks=True, alters_by_rebuilding=False, pipelines=True,
    zoned_datetimes=True,
    dialect=postgresql,
)
SQLITE = Capabilities(
    "sqlite", skip_locked=False, copy=False, concurrent_writes=False, autocommit_statements=False,
    writable_ctes=False, relaxed_commits=False, advisory_locks=False, alters_by_rebuilding=True, pipelines=False,
    zoned_datetimes=False,
    dialect=sqlite,
)
_KNOWN = {caps.name: caps for caps in (POSTGRESQL, SQLITE)}
