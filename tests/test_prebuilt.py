"""Prebuilt statements bind and load values exactly as the ORM does, on both databases."""

from __future__ import annotations

import datetime as dt
import uuid

import psycopg
import pytest
from sqlalchemy import bindparam, create_engine, inspect, select, text, update
from sqlalchemy.orm import Session

from jobruntime.models import JobResult, User
from jobruntime.store.database import make_engine, migrate
from jobruntime.store.prebuilt import Prebuilt, as_model, one_statement, prebuilt_insert, rows_each, transaction

RESULTS = JobResult.__table__
INSERT = prebuilt_insert(RESULTS, ("id", "name", "started", "data", "request"))
BY_ID = Prebuilt(select(RESULTS).where(RESULTS.c.id == bindparam("id")))
BUMP = Prebuilt(update(RESULTS).where(RESULTS.c.id == bindparam("id")).values(attempt=RESULTS.c.attempt + 1, reason="x"))


def test_values_round_trip_as_the_orm_reads_them(engine):
    job_result_id = uuid.uuid4()
    started = dt.datetime(2026, 11, 28, 21, 30, 5, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    data = {"output": "ok", "nested": [1, "two", None], "flag": True}
    with transaction(engine) as db:
        INSERT.execute(db, {"id": job_result_id, "name": "local/x/Y", "started": started, "data": data,
                            "request": None})
    with transaction(engine) as db:
        row = BY_ID.first(db, {"id": job_result_id})
    with Session(engine) as session:
        loaded = session.get(JobResult, job_result_id)
        expected = {column.key: getattr(loaded, column.key) for column in RESULTS.c}
    assert row == expected
    assert row["id"] == job_result_id and row["data"] == data
    assert row["started"] == started and row["started"].tzinfo == dt.timezone.utc


def test_statements_sent_together_answer_each_in_its_order(engine):
    ids = [uuid.uuid4(), uuid.uuid4()]
    with transaction(engine) as db:
        for number, job_result_id in enumerate(ids):
            INSERT.execute(db, {"id": job_result_id, "name": f"local/x/Y{number}", "started": None, "data": None,
                                "request": None})
    calls = [(BY_ID, {"id": ids[1]}), (BY_ID, {"id": uuid.uuid4()}), (BY_ID, {"id": ids[0]})]
    with transaction(engine) as db:
        together = rows_each(db, calls)
        one_by_one = [statement.rows(db, parameters) for statement, parameters in calls]
    assert together == one_by_one
    assert [[row["name"] for row in rows] for rows in together] == [["local/x/Y1"], [], ["local/x/Y0"]]


def test_column_defaults_and_literal_values_are_applied(engine):
    job_result_id = uuid.uuid4()
    before = dt.datetime.now(dt.timezone.utc)
    with transaction(engine) as db:
        INSERT.execute(db, {"id": job_result_id, "name": "n", "started": None, "data": None, "request": None})
        assert BUMP.execute(db, {"id": job_result_id}).rowcount == 1
        assert BUMP.execute(db, {"id": uuid.uuid4()}).rowcount == 0
    with transaction(engine) as db:
        row = BY_ID.first(db, {"id": job_result_id})
    assert row["created"] >= before  # the model's Python-side default
    assert (row["status"], row["attempt"], row["log_info"], row["reason"]) == ("pending", 1, 0, "x")


def test_a_failed_block_rolls_the_transaction_back(engine):
    job_result_id = uuid.uuid4()
    with pytest.raises(RuntimeError), transaction(engine) as db:
        INSERT.execute(db, {"id": job_result_id, "name": "n", "started": None, "data": None, "request": None})
        raise RuntimeError("stop")
    with transaction(engine) as db:
        assert BY_ID.first(db, {"id": job_result_id}) is None


def test_one_statement_commits_by_itself_and_returns_the_connection_as_it_was(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("one_statement is for PostgreSQL, where BEGIN and COMMIT are round trips")
    job_result_id = uuid.uuid4()
    with one_statement(engine) as db:
        INSERT.execute(db, {"id": job_result_id, "name": "n", "started": None, "data": None, "request": None})
        assert db.connection.info.transaction_status.name == "IDLE"  # committed already
    with transaction(engine) as db:
        assert BY_ID.first(db, {"id": job_result_id})["name"] == "n"
        assert db.connection.autocommit is False
        assert db.connection.execute("SHOW synchronous_commit").fetchone()[0] == "on"


def test_a_snapshot_is_a_detached_instance_of_the_stored_row(engine):
    with Session(engine) as session:
        session.add(User(username="alice"))
        session.commit()
    with transaction(engine) as db:
        row = Prebuilt(select(User.__table__).where(User.__table__.c.username == "alice")).first(db)
    alice = as_model(User, row)
    assert inspect(alice).detached and alice.username == "alice" and alice.is_active is True
    alice.is_superuser = True
    with Session(engine) as session:
        session.merge(alice)
        session.commit()  # an UPDATE of the existing row, not a second user
        assert session.scalars(select(User.username, User.is_superuser)).all() == ["alice"]
        assert session.scalars(select(User.is_superuser)).one() is True


def test_connections_the_server_dropped_cost_one_failure_not_one_per_pooled_connection(fresh_db_url):
    """As after a PostgreSQL restart: the first statement fails with the server's error, the next ones reconnect."""
    if not fresh_db_url.startswith("postgresql"):
        pytest.skip("SQLite has no server to drop connections")
    engine = make_engine(fresh_db_url)
    migrate(engine)
    held = [engine.raw_connection() for _ in range(3)]  # three connections in the pool
    for connection in held:
        connection.close()
    with create_engine(fresh_db_url, isolation_level="AUTOCOMMIT").connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
    with pytest.raises(psycopg.OperationalError, match="terminat"), transaction(engine) as db:
        BY_ID.first(db, {"id": uuid.uuid4()})
    for _ in range(3):
        with transaction(engine) as db:
            assert BY_ID.first(db, {"id": uuid.uuid4()}) is None
