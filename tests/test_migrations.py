"""The migrations produce exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from jobruntime.database import make_engine, migrate
from jobruntime.models import declare_all


def test_migrated_schema_matches_the_models(fresh_db_url):
    engine = make_engine(fresh_db_url)
    migrate(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), declare_all().metadata)
    assert differences == []
