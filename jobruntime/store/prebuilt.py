"""Statements every run makes, compiled once per dialect and executed on the driver's connection.

SQLAlchemy's per-execution work (cache lookup, parameter and result processing,
ORM loading) costs 0.3 to 0.5 ms of Python per statement, several times what
PostgreSQL takes to answer one. The handful of statements on the run path are
therefore built as SQLAlchemy Core once, compiled once per dialect, and run
straight on the DBAPI connection, with the same type conversions SQLAlchemy
applies (UUIDs, JSON and datetimes bind and load identically either way).

Everything else (models, admin commands, jobs' own queries) keeps using the ORM.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Table, bindparam, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, configure_mappers, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_dict, manager_of_class
from sqlalchemy.sql.expression import Executable

from jobruntime.core.capabilities import Capabilities
from jobruntime.core.errors import JobRuntimeError

Processor = Callable[[Any], Any] | None
T = TypeVar("T")


@dataclass(frozen=True)
class DriverConnection:
    """A DBAPI connection and the dialect whose SQL it speaks."""

    connection: Any
    dialect: Dialect


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positional: tuple[str, ...] | None  # parameter order for qmark drivers (sqlite3)
    defaults: dict[str, Any]  # literal values the statement itself carries
    generated: tuple[tuple[str, Callable[[], Any]], ...]  # Python-side column defaults, made per execution
    binds: tuple[tuple[str, Processor], ...]  # parameters that need converting
    columns: tuple[Any, ...]  # the returned columns


class Prebuilt:
    """One Core statement (INSERT/UPDATE/SELECT, RETURNING allowed), ready to run on any dialect.

    Parameters are passed by bind name; returned rows are dicts keyed by column key.
    Expanding parameters (``IN`` lists) are not supported: they change the SQL per call.
    """

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}
        self._results: dict[str, tuple[tuple[str, ...], tuple[Processor, ...]]] = {}

    def execute(self, db: DriverConnection, parameters: Mapping[str, Any] | None = None) -> Any:
        """Run once; returns the cursor, whose ``rowcount`` says how many rows changed."""
        compiled = self._compile(db.dialect)
        cursor = db.connection.cursor()
        cursor.execute(compiled.sql, self._arguments(compiled, parameters or {}))
        return cursor

    def execute_many(self, db: DriverConnection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run for every parameter set, in one driver call."""
        if len(rows) == 1:
            self.execute(db, rows[0])
        elif rows:
            compiled = self._compile(db.dialect)
            db.connection.cursor().executemany(compiled.sql, [self._arguments(compiled, row) for row in rows])

    def rows(self, db: DriverConnection, parameters: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        return self.rows_of(db, self.execute(db, parameters))

    def first(self, db: DriverConnection, parameters: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        return self.first_of(db, self.execute(db, parameters))

    def first_of(self, db: DriverConnection, cursor: Any) -> dict[str, Any] | None:
        """The first row of ``cursor`` (see ``rows_of``), or None."""
        found = self.rows_of(db, cursor)
        return found[0] if found else None

    def rows_of(self, db: DriverConnection, cursor: Any) -> list[dict[str, Any]]:
        """The rows of ``cursor``, on which this statement ran: read once a :func:`pipelined` block has ended."""
        rows = cursor.fetchall()
        names, processors = self._result_processing(self._compile(db.dialect), db.dialect, cursor)
        converters = tuple(zip(names, processors, strict=True))
        return [
            {name: value if process is None else process(value) for (name, process), value in zip(converters, row)}
            for row in rows
        ]

    def _arguments(self, compiled: _Compiled, parameters: Mapping[str, Any]) -> Any:
        values = {**compiled.defaults, **parameters}
        for name, make in compiled.generated:
            if name not in parameters:
                values[name] = make()
        for name, process in compiled.binds:
            values[name] = process(values[name])
        if compiled.positional is None:
            return values
        return [values[name] for name in compiled.positional]

    def _result_processing(
        self, compiled: _Compiled, dialect: Dialect, cursor: Any
    ) -> tuple[tuple[str, ...], tuple[Processor, ...]]:
        """Column keys and their converters, which may depend on the type codes the driver reports."""
        found = self._results.get(dialect.name)
        if found is None:
            codes = [description[1] for description in cursor.description or ()]
            found = self._results[dialect.name] = (
                tuple(column.key for column in compiled.columns),
                tuple(
                    column.type.dialect_impl(dialect).result_processor(dialect, code)
                    for column, code in zip(compiled.columns, codes, strict=True)
                ),
            )
        return found

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = _compile(self.statement, dialect)
        return compiled


def rows_each(db: DriverConnection, calls: Sequence[tuple[Prebuilt, Mapping[str, Any]]]) -> list[list[dict[str, Any]]]:
    """``statement.rows(db, parameters)`` for every call, in order, sent together (:func:`pipelined`).

    A worker reading ahead for the deliveries waiting behind the one in hand pays one
    round trip for all of them.
    """
    with pipelined(db):
        cursors = [(statement, statement.execute(db, parameters)) for statement, parameters in calls]
    return [statement.rows_of(db, cursor) for statement, cursor in cursors]


def prebuilt_insert(table: Table, columns: Iterable[str]) -> Prebuilt:
    """An INSERT of exactly ``columns``, each a parameter of the same name (the rest take their defaults)."""
    return Prebuilt(insert(table).values({column: bindparam(column) for column in columns}))


def _compile(statement: Executable, dialect: Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect)
    binds = []
    defaults = {}
    for bind, name in compiled.bind_names.items():
        if not bind.required:
            defaults[name] = bind.effective_value
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            binds.append((name, process))
    generated = tuple(
        (column.key, _default_maker(column.default))
        for column in (*compiled.insert_prefetch, *compiled.update_prefetch)
    )
    return _Compiled(
        sql=compiled.string,
        positional=tuple(compiled.positiontup) if dialect.positional else None,
        defaults=defaults,
        generated=generated,
        binds=tuple(binds),
        columns=tuple(getattr(statement, "exported_columns", ())),
    )


def _default_maker(default: Any) -> Callable[[], Any]:
    """A column's Python-side default (a constant or a callable) as a function of nothing."""
    if default.is_callable:
        return lambda: default.arg(None)
    return lambda: default.arg


@contextmanager
def pipelined(db: DriverConnection) -> Iterator[None]:
    """Send the statements run in the block together: one round trip for all of them, when the block ends.

    Their results (and errors) arrive as the block ends, so a cursor is read after it
    (:meth:`Prebuilt.rows_of`); reading one inside costs a round trip of its own. Where the
    database cannot (SQLite), the statements simply run one by one.
    """
    if not Capabilities.of(db.dialect).pipelines:
        yield
        return
    with db.connection.pipeline():
        yield


@contextmanager
def transaction(engine: Engine) -> Iterator[DriverConnection]:
    """A pooled connection in a transaction that commits when the block ends (rolls back on error)."""
    connection = engine.raw_connection()
    try:
        yield DriverConnection(connection.driver_connection, engine.dialect)
        connection.commit()
    except BaseException:
        if not _discard_if_lost(engine, connection):
            connection.rollback()
        raise
    finally:
        connection.close()


@contextmanager
def one_statement(engine: Engine) -> Iterator[DriverConnection]:
    """A pooled PostgreSQL connection of ``engine`` on which each statement commits by itself.

    A write that needs no companion statement skips BEGIN and COMMIT, two of its three
    round trips; the commit is as durable as the engine's (synchronous on the main pool).
    """
    connection = engine.raw_connection()
    driver = connection.driver_connection
    try:
        driver.autocommit = True
        yield DriverConnection(driver, engine.dialect)
    except BaseException:
        _discard_if_lost(engine, connection)
        raise
    finally:
        try:
            if connection.is_valid:
                driver.autocommit = False
        finally:
            connection.close()


def _discard_if_lost(engine: Engine, connection: Any) -> bool:
    """When the server dropped ``connection`` (a restart, say), discard it and every connection pooled with it.

    SQLAlchemy does this itself for the statements it runs; these run on the driver.
    Without it each dead pooled connection would fail one more call, and rolling
    back on a lost connection would hide the server's error behind its own.
    """
    if not getattr(connection.driver_connection, "broken", False):
        return False
    connection.invalidate()
    engine.dispose()
    return True


class ConnectionLost(JobRuntimeError, RuntimeError):
    """The database connection went away before a run's outcome committed: the infrastructure's fault, not the job's.

    Its transaction is rolled back with the connection, so the run may be tried again.
    """


# SQLSTATEs of a connection the server ended: class 08 (connection exception) and
# 57P01-57P03 (administrator or crash shutdown, cannot connect now). Other class 57
# states (57014, a cancelled statement or a statement timeout) are the query's own.
_SERVER_ENDED = ("57P01", "57P02", "57P03")


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it was raised from) says the database connection was lost or could not be made.

    SQLAlchemy says so on the errors of the statements it runs (``connection_invalidated``; a client-side
    error such as too many parameters is not a lost connection); for those run on the driver (``Prebuilt``)
    psycopg's own error tells: no SQLSTATE (the
    client lost the socket or could not open it), or a state of a connection the server ended.
    A constraint violation, a bad query or a statement timeout is none of these.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError):  # SQLAlchemy judged the statement it ran: its verdict stands
            return current.connection_invalidated
        driver = sys.modules.get("psycopg")  # not imported: no psycopg error can exist, and SQLite runs skip loading it
        if driver is not None and isinstance(current, driver.OperationalError):
            state = current.sqlstate
            if state is None or state.startswith("08") or state in _SERVER_ENDED:
                return True
        current = current.__cause__ or current.__context__
    return False


def on_connection(connection: Connection) -> DriverConnection:
    """The driver connection inside a SQLAlchemy connection's transaction, which its owner commits."""
    return DriverConnection(connection.connection.driver_connection, connection.dialect)


def in_session(session: Session) -> DriverConnection:
    """The driver connection inside the session's transaction, after flushing what the ORM still holds."""
    session.flush()
    return on_connection(session.connection())


def as_model(model: type[T], row: Mapping[str, Any], **related: Any) -> T:
    """The stored row ``row`` (every column) as a detached instance, with ``related`` objects attached.

    Loading through the ORM costs more than the query on the hot path; this fills the
    instance's attributes directly, without change tracking or backrefs, and leaves it
    as a session would after closing: ``session.merge()`` or ``add()`` treats it as the
    existing row, and relationships not given in ``related`` cannot be loaded.
    """
    configure_mappers()  # a no-op once the models are set up, as the ORM's own constructors do
    instance = manager_of_class(model).new_instance()
    state = instance_dict(instance)
    state.update(row)
    state.update(related)
    make_transient_to_detached(instance)
    return instance
