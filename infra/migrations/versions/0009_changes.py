"""The change log (object_change) and job hooks (job_hook).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from jobruntime.models.types import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "object_change",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("time", UTCDateTime(), server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("user_name", sa.String(150), server_default="", nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("changed_object_type", sa.String(100), nullable=False),
        sa.Column("changed_object_id", sa.Uuid(), nullable=False),
        sa.Column("related_object_type", sa.String(100), nullable=True),
        sa.Column("related_object_id", sa.Uuid(), nullable=True),
        sa.Column("object_repr", sa.String(200), nullable=False),
        sa.Column("object_data", sa.JSON(), nullable=False),
        sa.Column("change_context", sa.String(50), nullable=False),
        sa.Column("change_context_detail", sa.String(400), server_default="", nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name="fk_object_change_user_id_user", ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_object_change"),
    )
    op.create_index("ix_object_change_time", "object_change", ["time"])
    op.create_index("ix_object_change_user_id", "object_change", ["user_id"])
    op.create_index("ix_object_change_request_id", "object_change", ["request_id"])
    op.create_index("ix_object_change_changed_object_type_changed_object_id_time", "object_change",
                    ["changed_object_type", "changed_object_id", "time"])
    op.create_table(
        "job_hook",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("slug", sa.String(100), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("content_types", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("type_create", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("type_update", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("type_delete", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"], name="fk_job_hook_job_id_job", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_job_hook"),
        sa.UniqueConstraint("name", name="uq_job_hook_name"),
        sa.UniqueConstraint("slug", name="uq_job_hook_slug"),
    )
    op.create_index("ix_job_hook_job_id", "job_hook", ["job_id"])


def downgrade() -> None:
    op.drop_table("job_hook")
    op.drop_table("object_change")
