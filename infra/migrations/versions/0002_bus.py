"""Bus delivery: run leases and stored requests, the event outbox, API tokens and permissions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)
NOW = sa.text("CURRENT_TIMESTAMP")


def _id() -> sa.Column:
    return sa.Column("id", sa.Uuid(), nullable=False)


def _user_ref(table: str) -> list[sa.SchemaItem]:
    return [
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=f"fk_{table}_user_id_user", ondelete="CASCADE"),
    ]


def upgrade() -> None:
    with op.batch_alter_table("job_result") as batch:
        batch.add_column(sa.Column("heartbeat", TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("request", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("cancel_requested_by", sa.String(150), nullable=True))
        batch.create_index("ix_job_result_lease_expires", ["lease_expires"])

    op.create_table(
        "outbox_event",
        _id(),
        sa.Column("created", TIMESTAMP, nullable=False, server_default=NOW),
        sa.Column("exchange", sa.String(100), nullable=False),
        sa.Column("routing_key", sa.String(255), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("published", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_event"),
    )
    op.create_index("ix_outbox_event_published_created", "outbox_event", ["published", "created"])

    op.create_table(
        "user_token",
        _id(),
        *_user_ref("user_token"),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("description", sa.String(200), nullable=False, server_default=""),
        sa.Column("created", TIMESTAMP, nullable=False, server_default=NOW),
        sa.Column("expires", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_user_token"),
        sa.UniqueConstraint("key_hash", name="uq_user_token_key_hash"),
    )
    op.create_index("ix_user_token_user_id", "user_token", ["user_id"])

    op.create_table(
        "object_permission",
        _id(),
        *_user_ref("object_permission"),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("created", TIMESTAMP, nullable=False, server_default=NOW),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"], name="fk_object_permission_job_id_job", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_object_permission"),
        sa.UniqueConstraint("user_id", "action", "job_id", name="uq_object_permission_user_id_action_job_id"),
    )
    op.create_index("ix_object_permission_user_id", "object_permission", ["user_id"])


def downgrade() -> None:
    op.drop_table("object_permission")
    op.drop_table("user_token")
    op.drop_table("outbox_event")
    with op.batch_alter_table("job_result") as batch:
        batch.drop_index("ix_job_result_lease_expires")
        batch.drop_column("cancel_requested_by")
        batch.drop_column("request")
        batch.drop_column("heartbeat")
