"""Schedules: a job's run planned for later or on a recurrence, possibly awaiting approval.

``next_run_at`` is the one column the firing loop reads (indexed, so 10,000
waiting schedules cost an index probe per pass); the rest says what to run, as
whom, and what happened so far.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jobruntime.core.clock import utcnow
from jobruntime.models.base import Base
from jobruntime.models.extras import Job
from jobruntime.models.types import UTCDateTime
from jobruntime.models.users import User


class ScheduledJob(Base):
    """A job to run at ``start_time`` (once) or on a recurrence, as its requester, once approved if need be."""

    __tablename__ = "scheduled_job"
    _meta_label = "extras.scheduledjob"
    _url_plural = "scheduled-jobs"
    _ordering = ("start_time",)

    name: Mapped[str] = mapped_column(sa.String(200), index=True)
    job_model_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("job.id", ondelete="SET NULL"), index=True)
    job_class: Mapped[str] = mapped_column(sa.String(255))  # the class path, kept when the Job record goes
    interval: Mapped[str] = mapped_column(sa.String(32))
    crontab: Mapped[str] = mapped_column(sa.String(255), default="", server_default="")
    time_zone: Mapped[str] = mapped_column(sa.String(64), default="UTC", server_default="UTC")
    start_time: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    one_off: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True, server_default=sa.true())
    next_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)  # None: it will not run again
    last_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    total_run_count: Mapped[int] = mapped_column(sa.Integer, default=0, server_default=sa.text("0"))
    skip_reason: Mapped[str | None] = mapped_column(sa.Text)  # why its last due occurrence did not run
    data: Mapped[Any] = mapped_column(sa.JSON, default=dict)
    commit: Mapped[bool | None] = mapped_column(sa.Boolean)
    task_queue: Mapped[str | None] = mapped_column(sa.String(100))
    description: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"), index=True)
    approval_required: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    approved_by_user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow,
                                                 server_default=sa.text("CURRENT_TIMESTAMP"))
    date_changed: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, server_default=sa.text("CURRENT_TIMESTAMP")
    )

    job_model: Mapped[Job | None] = relationship()
    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
    approved_by_user: Mapped[User | None] = relationship(foreign_keys=[approved_by_user_id])

    def __str__(self) -> str:
        return self.name

    @property
    def awaiting_approval(self) -> bool:
        return self.approval_required and self.approved_at is None
