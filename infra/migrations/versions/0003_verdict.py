"""The verdict of a run whose post_run() is still to run.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_result") as batch:
        batch.add_column(sa.Column("verdict", sa.String(30), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job_result") as batch:
        batch.drop_column("verdict")
