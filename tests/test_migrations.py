"""The migrations produce exactly the schema the models describe, on both backends."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from jobruntime.database import make_engine, migrate
from jobruntime import models
from jobruntime.models import bind_session, declare_all


def test_migrated_schema_matches_the_models(fresh_db_url):
    engine = make_engine(fresh_db_url)
    migrate(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), declare_all().metadata)
    assert differences == []


def test_upgrading_keeps_the_rows_that_reference_rebuilt_tables(fresh_db_url):
    """SQLite rebuilds a table to change its constraints; that must not fire ON DELETE actions on its dependants."""
    engine = make_engine(fresh_db_url)
    migrate(engine, revision="0003")
    with Session(engine) as session, bind_session(session):
        active = session.scalars(sa.select(models.Status).where(models.Status.slug == "active")).one()
        site = models.Site.objects.create(name="S", status=active)
        device_type = models.DeviceType.objects.create(
            manufacturer=models.Manufacturer.objects.create(name="M"), model="T")
        device = models.Device.objects.create(name="d1", device_type=device_type, site=site, status=active,
                                              device_role=models.DeviceRole.objects.create(name="R"))
        models.Interface.objects.create(device=device, name="eth0")
        session.commit()
    migrate(engine)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM interface")).scalar() == 1
        assert connection.execute(sa.text("SELECT count(*) FROM device")).scalar() == 1
        if connection.dialect.name == "sqlite":
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
