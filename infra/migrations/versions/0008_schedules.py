"""Schedules (ScheduledJob) and the link from a run to the schedule that made it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from jobruntime.models.types import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduled_job",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("job_model_id", sa.Uuid(), nullable=True),
        sa.Column("job_class", sa.String(255), nullable=False),
        sa.Column("interval", sa.String(32), nullable=False),
        sa.Column("crontab", sa.String(255), server_default="", nullable=False),
        sa.Column("time_zone", sa.String(64), server_default="UTC", nullable=False),
        sa.Column("start_time", UTCDateTime(), nullable=False),
        sa.Column("one_off", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("next_run_at", UTCDateTime(), nullable=True),
        sa.Column("last_run_at", UTCDateTime(), nullable=True),
        sa.Column("total_run_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("skip_reason", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("commit", sa.Boolean(), nullable=True),
        sa.Column("task_queue", sa.String(100), nullable=True),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("approval_required", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("approved_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("approved_at", UTCDateTime(), nullable=True),
        sa.Column("created", UTCDateTime(), server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False),
        sa.Column("date_changed", UTCDateTime(), server_default=sa.text("CURRENT_TIMESTAMP"), nullable=False),
        sa.ForeignKeyConstraint(["job_model_id"], ["job.id"], name="fk_scheduled_job_job_model_id_job",
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name="fk_scheduled_job_user_id_user", ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["approved_by_user_id"], ["user.id"],
                                name="fk_scheduled_job_approved_by_user_id_user", ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_scheduled_job"),
    )
    for column in ("name", "job_model_id", "next_run_at", "user_id"):
        op.create_index(f"ix_scheduled_job_{column}", "scheduled_job", [column])
    with op.batch_alter_table("job_result") as batch:
        batch.add_column(sa.Column("schedule_id", sa.Uuid(), nullable=True))
        batch.create_index("ix_job_result_schedule_id", ["schedule_id"])
        batch.create_foreign_key("fk_job_result_schedule_id_scheduled_job", "scheduled_job", ["schedule_id"], ["id"],
                                 ondelete="SET NULL")


def downgrade() -> None:
    with op.batch_alter_table("job_result") as batch:
        batch.drop_constraint("fk_job_result_schedule_id_scheduled_job", type_="foreignkey")
        batch.drop_index("ix_job_result_schedule_id")
        batch.drop_column("schedule_id")
    op.drop_table("scheduled_job")
