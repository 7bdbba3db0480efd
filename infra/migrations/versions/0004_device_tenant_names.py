"""Device names are unique per site and tenant (no tenant counting as one), as in Nautobot.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

WITHOUT_TENANT = sa.text("tenant_id IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("device") as batch:
        batch.drop_constraint("uq_device_site_id_name", type_="unique")
        batch.create_unique_constraint("uq_device_site_id_tenant_id_name", ["site_id", "tenant_id", "name"])
    op.create_index("ix_device_site_id_name", "device", ["site_id", "name"], unique=True,
                    postgresql_where=WITHOUT_TENANT, sqlite_where=WITHOUT_TENANT)


def downgrade() -> None:
    op.drop_index("ix_device_site_id_name", "device")
    with op.batch_alter_table("device") as batch:
        batch.drop_constraint("uq_device_site_id_tenant_id_name", type_="unique")
        batch.create_unique_constraint("uq_device_site_id_name", ["site_id", "name"])
