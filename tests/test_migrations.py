"""The migrations produce exactly the schema the models describe, on both backends."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from jobruntime import models
from jobruntime.models import declare_all
from jobruntime.store.database import make_engine, migrate


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
    ids = {name: uuid.uuid4() for name in ("site", "manufacturer", "device_type", "role", "device", "interface")}
    with engine.begin() as connection:  # Core inserts: the models describe the newest schema, not 0003's
        active = connection.execute(sa.select(models.Status.id).where(models.Status.slug == "active")).scalar()
        for model, values in (
            (models.Site, {"id": ids["site"], "name": "S", "slug": "s", "status_id": active}),
            (models.Manufacturer, {"id": ids["manufacturer"], "name": "M", "slug": "m"}),
            (models.DeviceType, {"id": ids["device_type"], "manufacturer_id": ids["manufacturer"], "model": "T",
                                 "slug": "t"}),
            (models.DeviceRole, {"id": ids["role"], "name": "R", "slug": "r"}),
            (models.Device, {"id": ids["device"], "name": "d1", "device_type_id": ids["device_type"],
                             "device_role_id": ids["role"], "site_id": ids["site"], "status_id": active}),
            (models.Interface, {"id": ids["interface"], "device_id": ids["device"], "name": "eth0"}),
        ):
            connection.execute(sa.insert(model.__table__).values(values))
    migrate(engine)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM interface")).scalar() == 1
        assert connection.execute(sa.text("SELECT count(*) FROM device")).scalar() == 1
        assert connection.execute(sa.text("SELECT _name FROM interface")).scalar() == "9999" * 4 + "eth000000" + "......" * 2
        if connection.dialect.name == "sqlite":
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
