"""What each database can do, read from the engine rather than from its dialect's name."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.dialects.mysql.base import MySQLDialect

from jobruntime.bus.transport import AmqpTransport, MemoryTransport, Transport
from jobruntime.core.capabilities import POSTGRESQL, SQLITE, Capabilities, UnsupportedDatabase
from jobruntime.core.errors import SetupError
from jobruntime.core.settings import Settings
from jobruntime.models import JobResult


def test_the_capabilities_follow_the_engine(engine):
    capabilities = Capabilities.of(engine)
    assert capabilities is (POSTGRESQL if engine.dialect.name == "postgresql" else SQLITE)
    with engine.connect() as connection:
        assert Capabilities.of(connection) is capabilities


def test_a_query_locks_rows_skipping_locked_ones_only_where_the_database_can(engine):
    query = select(JobResult.id)
    locked = Capabilities.of(engine).skipping_locked(query)
    compiled = str(locked.compile(engine))
    assert ("FOR UPDATE SKIP LOCKED" in compiled) is Capabilities.of(engine).skip_locked
    with engine.connect() as connection:
        assert connection.execute(locked).all() == []


def test_sqlite_has_one_writer_and_postgresql_many():
    assert (SQLITE.concurrent_writes, POSTGRESQL.concurrent_writes) == (False, True)
    assert (SQLITE.copy, POSTGRESQL.copy) == (False, True)
    assert (SQLITE.alters_by_rebuilding, POSTGRESQL.alters_by_rebuilding) == (True, False)


def test_another_database_is_refused_as_a_setup_error():
    with pytest.raises(UnsupportedDatabase, match="runs on PostgreSQL .* or SQLite .*, not mysql") as refused:
        Capabilities.of(MySQLDialect())
    assert isinstance(refused.value, SetupError)


def test_the_transport_follows_the_broker_url():
    assert isinstance(Transport.for_url("memory://"), MemoryTransport)
    assert isinstance(Transport.for_url("amqp://guest:guest@127.0.0.1:5672//"), AmqpTransport)
    assert Transport.for_url("memory://").in_process and not Transport.for_url("amqp://h//").in_process


def test_only_a_broker_queue_carries_dead_lettering_and_the_delivery_limit():
    settings = Settings(max_attempts=4)
    assert MemoryTransport().queue_arguments(settings) == {}
    assert AmqpTransport().queue_arguments(settings) == {
        "x-dead-letter-exchange": "jobruntime.dead", "x-queue-type": "quorum", "x-delivery-limit": 4,
    }
    assert AmqpTransport().queue_arguments(settings.replace(queue_type="classic")) == {
        "x-dead-letter-exchange": "jobruntime.dead",
    }


def test_the_embedded_broker_checks_the_queue_but_not_its_workers_before_a_publish():
    settings = Settings(check_consumers=True)
    assert MemoryTransport().checks_before_publish(settings) == (True, False)
    assert AmqpTransport().checks_before_publish(settings) == (True, True)
    assert AmqpTransport().checks_before_publish(settings.replace(check_consumers=False)) == (False, False)
