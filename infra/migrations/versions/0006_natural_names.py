"""Natural-order keys (``_name``) for sites, devices and device components, filled for existing rows.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from jobruntime.models.natural import KEY_LENGTH, naturalize, naturalize_interface

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLES = {
    "site": naturalize,
    "device": naturalize,
    "interface": naturalize_interface,
    "console_port": naturalize,
    "console_server_port": naturalize,
    "power_port": naturalize,
    "power_outlet": naturalize,
}


def upgrade() -> None:
    connection = op.get_bind()
    for table, key in TABLES.items():
        op.add_column(table, sa.Column("_name", sa.String(KEY_LENGTH), nullable=True))
        op.create_index(f"ix_{table}__name", table, ["_name"])
        rows = sa.table(table, sa.column("id", sa.Uuid()), sa.column("name", sa.String()),
                        sa.column("_name", sa.String()))
        keys = [{"row_id": row.id, "key": key(row.name)} for row in connection.execute(sa.select(rows.c.id, rows.c.name))]
        if keys:
            connection.execute(rows.update().where(rows.c.id == sa.bindparam("row_id")).values(_name=sa.bindparam("key")),
                               keys)


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}__name", table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("_name")
