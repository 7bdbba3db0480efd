"""Custom fields and tags: their tables, and a ``_custom_field_data`` column on every inventory table.

Device components get a ``label``; interfaces a ``mode`` and an optional ``status``, as in Nautobot 1.4+.

Statuses may be NULL in the database, as Nautobot 1.x's StatusField allows (``validated_save()`` still
requires one).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COMPONENT_TABLES = ("interface", "console_port", "console_server_port", "power_port", "power_outlet")
STATUS_TABLES = ("site", "device", "cable", "vlan", "prefix", "ip_address")
INVENTORY_TABLES = (
    "region", "tenant_group", "tenant", "site", "manufacturer", "device_type", "device_role", "platform", "device",
    "interface", "console_port", "console_server_port", "power_port", "power_outlet", "cable", "vlan", "prefix",
    "ip_address",
)


def upgrade() -> None:
    op.create_table(
        "custom_field",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("label", sa.String(50), nullable=False),
        sa.Column("type", sa.String(50), nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("filter_logic", sa.String(50), nullable=False),
        sa.Column("default", sa.JSON(), nullable=True),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("validation_minimum", sa.BigInteger(), nullable=True),
        sa.Column("validation_maximum", sa.BigInteger(), nullable=True),
        sa.Column("validation_regex", sa.String(500), nullable=False),
        sa.Column("advanced_ui", sa.Boolean(), nullable=False),
        sa.Column("content_type_labels", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_custom_field"),
        sa.UniqueConstraint("name", name="uq_custom_field_name"),
    )
    op.create_table(
        "custom_field_choice",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("field_id", sa.Uuid(), nullable=False),
        sa.Column("value", sa.String(100), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["field_id"], ["custom_field.id"], name="fk_custom_field_choice_field_id_custom_field",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_custom_field_choice"),
        sa.UniqueConstraint("field_id", "value", name="uq_custom_field_choice_field_id_value"),
    )
    op.create_index("ix_custom_field_choice_field_id", "custom_field_choice", ["field_id"])
    op.create_table(
        "tag",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("slug", sa.String(100), nullable=False),
        sa.Column("color", sa.String(6), nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("content_type_labels", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tag"),
        sa.UniqueConstraint("name", name="uq_tag_name"),
        sa.UniqueConstraint("slug", name="uq_tag_slug"),
    )
    op.create_table(
        "tagged_item",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tag_id", sa.Uuid(), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("object_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["tag_id"], ["tag.id"], name="fk_tagged_item_tag_id_tag", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_tagged_item"),
        sa.UniqueConstraint("tag_id", "content_type", "object_id", name="uq_tagged_item_tag_id_content_type_object_id"),
    )
    op.create_index("ix_tagged_item_tag_id", "tagged_item", ["tag_id"])
    op.create_index("ix_tagged_item_content_type_object_id", "tagged_item", ["content_type", "object_id"])
    for table in INVENTORY_TABLES:
        op.add_column(table, sa.Column("_custom_field_data", sa.JSON(), nullable=False, server_default="{}"))
    for table in STATUS_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column("status_id", existing_type=sa.Uuid(), nullable=True)
    for table in COMPONENT_TABLES:
        op.add_column(table, sa.Column("label", sa.String(64), nullable=False, server_default=""))
    op.add_column("interface", sa.Column("mode", sa.String(50), nullable=False, server_default=""))
    with op.batch_alter_table("interface") as batch:
        batch.add_column(sa.Column("status_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key("fk_interface_status_id_status", "status", ["status_id"], ["id"], ondelete="RESTRICT")
        batch.create_index("ix_interface_status_id", ["status_id"])


def downgrade() -> None:
    with op.batch_alter_table("interface") as batch:
        batch.drop_index("ix_interface_status_id")
        batch.drop_constraint("fk_interface_status_id_status", type_="foreignkey")
        batch.drop_column("status_id")
        batch.drop_column("mode")
    for table in COMPONENT_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("label")
    for table in STATUS_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column("status_id", existing_type=sa.Uuid(), nullable=False)
    for table in INVENTORY_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("_custom_field_data")
    op.drop_table("tagged_item")
    op.drop_table("tag")
    op.drop_table("custom_field_choice")
    op.drop_table("custom_field")
