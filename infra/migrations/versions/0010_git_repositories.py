"""Git repositories as job sources: the repository table, longer Job sources, the commit a run used.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "git_repository",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("slug", sa.String(100), nullable=False),
        sa.Column("remote_url", sa.String(500), nullable=False),
        sa.Column("branch", sa.String(255), nullable=False, server_default="main"),
        sa.Column("token_env", sa.String(100), nullable=True),
        sa.Column("ssh_key_env", sa.String(100), nullable=True),
        sa.Column("current_head", sa.String(64), nullable=True),
        sa.Column("created", TIMESTAMP, nullable=False, server_default=sa.text("CURRENT_TIMESTAMP")),
        sa.Column("last_synced", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_git_repository"),
        sa.UniqueConstraint("name", name="uq_git_repository_name"),
        sa.UniqueConstraint("slug", name="uq_git_repository_slug"),
    )
    with op.batch_alter_table("job") as batch:
        batch.alter_column("source", existing_type=sa.String(16), type_=sa.String(120), existing_nullable=False)
    with op.batch_alter_table("job_result") as batch:
        batch.add_column(sa.Column("source", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job_result") as batch:
        batch.drop_column("source")
    with op.batch_alter_table("job") as batch:
        batch.alter_column("source", existing_type=sa.String(120), type_=sa.String(16), existing_nullable=False)
    op.drop_table("git_repository")
