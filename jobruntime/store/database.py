"""Engines, schema migration and seed data for the jobruntime database.

One engine per URL per process: engines own connection pools, so sharing them
avoids opening a pool per job. Connections are not pinged on checkout (that
would cost a round trip per statement batch on the hot path). SQLite is tuned
for several worker processes on one file (WAL with synchronous=NORMAL, which
stays consistent after a crash, a generous busy timeout, enforced foreign keys).

SQLite transactions keep the sqlite3 driver's default: BEGIN is issued before
the first data change, so reads never pin a snapshot that another connection's
commit would invalidate (which fails at once with "database is locked"). The
price: a SAVEPOINT opened before any write starts the transaction itself, and
releasing it commits, so write-bearing ``begin_nested()`` blocks belong after
the transaction's first write on SQLite.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Engine, create_engine, event, make_url, select
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

import jobruntime
from jobruntime.core.capabilities import Capabilities
from jobruntime.core.errors import SetupError
from jobruntime.store.prebuilt import DriverConnection

MIGRATIONS_DIR = Path(jobruntime.__file__).parent.parent / "infra" / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30000


class StatusSeed(NamedTuple):
    """One default status."""

    slug: str
    name: str
    color: str


# Nautobot's default statuses.
DEFAULT_STATUSES: tuple[StatusSeed, ...] = tuple(
    StatusSeed(*row)
    for row in (
        ("active", "Active", "4caf50"),
        ("available", "Available", "4caf50"),
        ("connected", "Connected", "4caf50"),
        ("container", "Container", "9e9e9e"),
        ("decommissioned", "Decommissioned", "9e9e9e"),
        ("decommissioning", "Decommissioning", "ffc107"),
        ("deprecated", "Deprecated", "f44336"),
        ("dhcp", "DHCP", "4caf50"),
        ("failed", "Failed", "f44336"),
        ("inventory", "Inventory", "9e9e9e"),
        ("maintenance", "Maintenance", "9e9e9e"),
        ("offline", "Offline", "ffc107"),
        ("planned", "Planned", "00bcd4"),
        ("provisioning", "Provisioning", "2196f3"),
        ("reserved", "Reserved", "00bcd4"),
        ("retired", "Retired", "f44336"),
        ("slaac", "SLAAC", "4caf50"),
        ("staged", "Staged", "2196f3"),
    )
)

_engines: dict[tuple[str, bool, bool], Engine] = {}
_engines_lock = threading.Lock()


def normalize_url(url: str | URL) -> URL:
    """Parse ``url``, selecting the psycopg 3 driver for bare ``postgresql://`` URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL, *, autocommit: bool = False, relaxed: bool = False) -> Engine:
    """The process-wide engine for ``url``, created on first use.

    ``autocommit=True`` gives a separate pool whose connections stay in autocommit
    mode: single statements on hot paths then cost one round trip, with no BEGIN,
    COMMIT or per-checkout isolation switch. On PostgreSQL these commits are also
    relaxed (``synchronous_commit=off``: no wait for the WAL flush), so the pool is
    for reads and for writes that a later synchronous commit makes durable (the WAL is
    flushed in order): a local run's first JobResult row, log batches, lease renewals.

    ``relaxed=True`` (PostgreSQL) gives a pool of ordinary transactions whose commits are
    relaxed the same way: a worker deciding a batch of runs commits each run there and makes
    them all durable at once with ``flush_commits`` before anything depends on them.
    """
    parsed = normalize_url(url)
    relaxed = relaxed and not autocommit and parsed.get_backend_name() != "sqlite"
    key = (parsed.render_as_string(hide_password=False), autocommit, relaxed)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _create(parsed, autocommit, relaxed)
            _engines[key] = engine
        return engine


def _create(url: URL, autocommit: bool, relaxed: bool) -> Engine:
    options: dict[str, Any] = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    if url.get_backend_name() != "sqlite":
        if autocommit or relaxed:
            options["connect_args"] = {"options": "-c synchronous_commit=off"}
        return create_engine(url, **options)
    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, **options)
    event.listen(engine, "connect", _configure_sqlite_connection)
    return engine


# One statement that commits synchronously and writes WAL (a transaction that wrote none would not wait for the
# flush): PostgreSQL flushes its WAL in order, so every relaxed commit made before it is durable once it returns.
_FLUSH_COMMITS = "SELECT set_config('synchronous_commit', 'on', true), pg_logical_emit_message(true, 'jobruntime', '')"


def flush_commits(engine: Engine) -> None:
    """Make every commit this database has taken so far durable, in one round trip (PostgreSQL).

    Relaxed commits (``synchronous_commit=off``) are visible at once but reach disk within
    a fraction of a second; a caller about to acknowledge or announce them calls this first.
    """
    with engine.connect() as connection:
        connection.exec_driver_sql(_FLUSH_COMMITS)
        connection.commit()


def commit_flushing(db: DriverConnection) -> None:
    """Make the commit of ``db``'s open transaction synchronous, so it also makes every earlier commit durable
    (``flush_commits`` without a transaction of its own, for a caller with writes to commit anyway). Commits are
    never relaxed on a database without the capability: there it does nothing."""
    if Capabilities.of(db.dialect).relaxed_commits:
        db.connection.execute(_FLUSH_COMMITS)


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    """Per-connection SQLite settings (pragmas are not persistent)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA case_sensitive_like = ON")
    cursor.close()


def _forget_engines_after_fork() -> None:
    """A forked child must not reuse the parent's pooled connections."""
    for engine in _engines.values():
        engine.dispose(close=False)
    _engines.clear()


os.register_at_fork(after_in_child=_forget_engines_after_fork)


class MigrationError(SetupError, RuntimeError):
    """A migration could not be applied as it stands; nothing of it was committed."""


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` (the newest by default); safe to call on every start.

    Concurrent callers are serialised (an advisory lock on PostgreSQL, an
    immediate write lock on SQLite) so only one of them creates tables. SQLite
    changes a table's constraints by rebuilding it, and dropping the old table
    would fire its dependants' ON DELETE actions (deleting a device's interfaces,
    say), so foreign keys are off while it migrates and checked before commit.
    """
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    capabilities = Capabilities.of(engine)
    with engine.connect() as connection:
        if capabilities.alters_by_rebuilding:
            connection.exec_driver_sql("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction
            connection.commit()
        try:
            with connection.begin():
                if capabilities.advisory_locks:
                    connection.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtext('jobruntime.migrate'))")
                else:
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                if capabilities.alters_by_rebuilding and (broken := connection.exec_driver_sql("PRAGMA foreign_key_check").all()):
                    raise MigrationError(f"The migration would leave rows with dangling references: {broken[:5]}")
        finally:
            if capabilities.alters_by_rebuilding:
                connection.exec_driver_sql("PRAGMA foreign_keys = ON")
                connection.commit()


def seed_statuses(session: Session) -> int:
    """Insert any missing default statuses (matched by slug); returns how many were added."""
    from jobruntime.models import Status  # declares the inventory models, which most commands never need

    existing = set(session.scalars(select(Status.slug)))
    missing = [
        Status(slug=seed.slug, name=seed.name, color=seed.color)
        for seed in DEFAULT_STATUSES
        if seed.slug not in existing
    ]
    session.add_all(missing)
    session.flush()
    return len(missing)
