"""The people (and service accounts) that run jobs."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jobruntime.core.clock import utcnow
from jobruntime.models.base import Base
from jobruntime.models.types import UTCDateTime

RUN_JOB = "run_job"
CHANGE_JOB = "change_job"  # edit a Job record (enabled, overrides) through the HTTP API
APPROVE_JOB = "approve_job"  # approve or deny another user's schedule of the job
ACTIONS = (RUN_JOB, CHANGE_JOB, APPROVE_JOB)  # what an ObjectPermission may grant; granting another would allow nothing


class User(Base):
    """A job requester; job results keep a reference for auditing."""

    __tablename__ = "user"
    _meta_label = "users.user"
    _url_plural = "users"
    _ordering = ("username",)

    username: Mapped[str] = mapped_column(sa.String(150), unique=True)
    is_superuser: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    is_active: Mapped[bool] = mapped_column(sa.Boolean, default=True, server_default=sa.true())
    created: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, default=utcnow, server_default=sa.text("CURRENT_TIMESTAMP")
    )

    def __str__(self) -> str:
        return self.username


class Token(Base):
    """A user's API token. Only its SHA-256 is stored; the key is shown once, at creation."""

    __tablename__ = "user_token"
    _meta_label = "users.token"
    _url_plural = "tokens"
    _ordering = ("created",)

    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    description: Mapped[str] = mapped_column(sa.String(200), default="", server_default="")
    created: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, default=utcnow, server_default=sa.text("CURRENT_TIMESTAMP")
    )
    expires: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    def __str__(self) -> str:
        return f"token of {self.user_id}"


class ObjectPermission(Base):
    """A user may perform ``action`` (e.g. ``run_job``) on one Job record, or on every job when ``job_id`` is null."""

    __tablename__ = "object_permission"
    __table_args__ = (sa.UniqueConstraint("user_id", "action", "job_id"),)
    _meta_label = "users.objectpermission"
    _url_plural = "permissions"
    _ordering = ("created",)

    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(sa.String(50))
    job_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("job.id", ondelete="CASCADE"))
    created: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, default=utcnow, server_default=sa.text("CURRENT_TIMESTAMP")
    )

    user: Mapped[User] = relationship()

    def __str__(self) -> str:
        return f"{self.action} for {self.user_id} on {self.job_id or 'every job'}"
