"""Deleting an interface deletes its IP addresses, as in Nautobot 1.x.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

FOREIGN_KEY = "fk_ip_address_interface_id_interface"


def _point_at_interface(ondelete: str) -> None:
    with op.batch_alter_table("ip_address") as batch:
        batch.drop_constraint(FOREIGN_KEY, type_="foreignkey")
        batch.create_foreign_key(FOREIGN_KEY, "interface", ["interface_id"], ["id"], ondelete=ondelete)


def upgrade() -> None:
    _point_at_interface("CASCADE")


def downgrade() -> None:
    _point_at_interface("SET NULL")
