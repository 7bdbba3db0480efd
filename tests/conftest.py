"""Shared database fixtures: every DB test runs once on SQLite and once on a real PostgreSQL.

``db_url`` creates and migrates a database per backend for the test session;
``engine`` empties it (keeping the schema) and re-seeds statuses before each
test; ``session`` binds a Session for the test's duration.
"""

from __future__ import annotations

import functools
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from jobruntime.models import bind_session, declare_all
from jobruntime.store.database import make_engine, migrate, seed_statuses
from tests.rabbit import AMQP_URL, close_session_vhost, open_session_vhost

PG_URL_BASE = os.environ.get("JOBRUNTIME_TEST_PG_URL_BASE", "postgresql+psycopg://postgres@127.0.0.1:5432")
PG_MAINTENANCE_DB = "test"


def _reachable(url: str, default_port: int) -> bool:
    parsed = make_url(url) if "://" in url and not url.startswith("amqp") else None
    host, port = (parsed.host, parsed.port) if parsed else _amqp_address(url)
    try:
        socket.create_connection((host or "127.0.0.1", port or default_port), timeout=2).close()
        return True
    except OSError:
        return False


def _amqp_address(url: str) -> tuple[str | None, int | None]:
    netloc = url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    host, _, port = netloc.partition(":")
    return host, int(port) if port else None


SERVERS = {  # marker -> (what, reachable?, how to start it)
    "postgres": ("PostgreSQL", lambda: _reachable(PG_URL_BASE, 5432), "make services"),
    "bus": ("RabbitMQ", lambda: _reachable(AMQP_URL, 5672), "make services"),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark PostgreSQL tests, then skip (locally) or fail (in CI) tests whose server is down.

    A test is a ``postgres`` test when it runs on the PostgreSQL ``db_url``;
    modules that talk to RabbitMQ say so with ``pytestmark = pytest.mark.bus``.
    With ``CI=true`` a missing server fails its tests: CI must never pass by skipping.
    """
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("db_url") == "postgresql":
            item.add_marker(pytest.mark.postgres)
    in_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    for marker, (what, reachable, start) in SERVERS.items():
        needing = [item for item in items if item.get_closest_marker(marker)]
        if not needing or reachable():
            continue
        reason = f"{what} is not reachable; start it with `{start}`"
        for item in needing:
            item.add_marker(pytest.mark.server_missing(reason) if in_ci else pytest.mark.skip(reason=reason))


def pytest_sessionstart(session: pytest.Session) -> None:
    """The session's own broker vhost (``tests.rabbit``), when the broker is there to hold it."""
    if SERVERS["bus"][1]():
        open_session_vhost()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if SERVERS["bus"][1]():
        close_session_vhost()


def pytest_runtest_setup(item: pytest.Item) -> None:
    missing = item.get_closest_marker("server_missing")
    if missing is not None:
        pytest.fail(f"{missing.args[0]} (CI=true: tests that need it fail instead of skipping)", pytrace=False)


def _pg_admin_conninfo(url_base: str) -> str:
    """libpq connection string for the maintenance database named by the URL base."""
    url = make_url(f"{url_base.rstrip('/')}/{PG_MAINTENANCE_DB}")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def create_pg_database(url_base: str = PG_URL_BASE) -> str:
    """Create an empty, uniquely named PostgreSQL database and return its SQLAlchemy URL."""
    name = f"jobruntime_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_pg_admin_conninfo(url_base), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{url_base.rstrip('/')}/{name}"


def drop_pg_database(url: str) -> None:
    """Drop a database made by ``create_pg_database``, disconnecting any leftover sessions."""
    engine = make_engine(url)
    engine.dispose()
    name = make_url(url).database
    base = url.rsplit("/", 1)[0]
    with psycopg.connect(_pg_admin_conninfo(base), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fresh_database_url(backend: str, directory: Path) -> str:
    """An empty database URL for ``backend`` ("sqlite" or "postgresql")."""
    if backend == "sqlite":
        return f"sqlite:///{directory / f'jobruntime-{uuid.uuid4().hex[:8]}.db'}"
    return create_pg_database()


@pytest.fixture
def fresh_db_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty, unmigrated database on the same backend as ``db_url``, dropped afterwards."""
    backend = make_url(db_url).get_backend_name()
    url = fresh_database_url(backend, tmp_path)
    try:
        yield url
    finally:
        if backend == "postgresql":
            drop_pg_database(url)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"], ids=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database for one backend, shared by the whole test session."""
    url = fresh_database_url(request.param, tmp_path_factory.mktemp("db"))
    try:
        migrate(make_engine(url))
        yield url
    finally:
        if request.param == "postgresql":
            drop_pg_database(url)


@functools.cache
def _tables_parents_first(engine: sa.Engine) -> tuple[str, ...]:
    """Every table in the database except ``alembic_version``, parents before children.

    Tables other modules created outside the models are put last (treated as
    children), so they are emptied before the model tables they may reference.
    """
    known = [table.name for table in declare_all().metadata.sorted_tables]
    present = set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    return tuple(name for name in known if name in present) + tuple(sorted(present - set(known)))


def wipe(engine: sa.Engine) -> None:
    """Delete every row of every table except ``alembic_version``, keeping the schema.

    Rows go child tables first, and only tables that hold rows (found with one
    query) are touched: on test-sized data this is an order of magnitude
    faster than TRUNCATE, whose cost is per table, and behaves the same on
    both backends.
    """
    tables = _tables_parents_first(engine)
    probe = " UNION ALL ".join(f"SELECT '{name}' WHERE EXISTS (SELECT 1 FROM \"{name}\")" for name in tables)
    with engine.begin() as conn:
        filled = set(conn.exec_driver_sql(probe).scalars())
        for name in reversed(tables):
            if name in filled:
                conn.exec_driver_sql(f'DELETE FROM "{name}"')


@pytest.fixture
def engine(db_url: str) -> sa.Engine:
    """The shared engine, with empty tables and the default statuses."""
    engine = make_engine(db_url)
    wipe(engine)
    with Session(engine) as session, session.begin():
        seed_statuses(session)
    return engine


@pytest.fixture
def session(engine: sa.Engine) -> Iterator[Session]:
    """A Session bound with ``bind_session`` so ``Model.objects`` works inside the test."""
    with Session(engine, expire_on_commit=False) as session, bind_session(session):
        yield session


JOB_MODULES = Path(__file__).parent / "job_modules"


@pytest.fixture
def runtime(engine: sa.Engine, tmp_path: Path):
    """A Runtime on the test database, with ``tests/job_modules`` as JOBS_ROOT."""
    from jobruntime.core.sanitize import Sanitizer
    from jobruntime.core.settings import Settings
    from jobruntime.run.runtime import Runtime

    settings = Settings(database_url=engine.url.render_as_string(hide_password=False), jobs_root=JOB_MODULES,
                        home=tmp_path)
    return Runtime(settings=settings, engine=engine, sanitizer=Sanitizer(settings.sanitizer_patterns))


@pytest.fixture
def alice(session: Session):
    """A plain user (no superuser, no grants)."""
    from jobruntime.models import User

    user = User(username="alice")
    session.add(user)
    session.flush()
    return user


@pytest.fixture
def records(session: Session):
    """The Job records of ``tests/job_modules``; returns PassingJob's and FailingJob's."""
    from jobruntime.authoring.discovery import discover
    from jobruntime.authoring.records import find_record, sync

    sync(session, discover(JOB_MODULES))
    return find_record(session, "local/basic/PassingJob"), find_record(session, "local/basic/FailingJob")


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory):
    """A real SeaweedFS S3 server (``weed mini`` on free ports) shared by the storage tests of the session."""
    from tests.storage_support import running_seaweedfs

    with running_seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server
