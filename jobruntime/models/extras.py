"""Job bookkeeping: installed job classes, their runs, and each run's log.

Columns carry server-side defaults as well as Python ones because workers write
results and log entries with bulk Core inserts (and PostgreSQL COPY) that
bypass the ORM.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jobruntime.core.clock import utcnow
from jobruntime.models.base import Base
from jobruntime.models.errors import ValidationError
from jobruntime.models.related import RelatedObjects
from jobruntime.models.types import UTCDateTime
from jobruntime.models.users import User

JOB_OVERRIDABLE_FIELDS: tuple[str, ...] = (
    "grouping",
    "name",
    "description",
    "commit_default",
    "hidden",
    "read_only",
    "approval_required",
    "soft_time_limit",
    "time_limit",
    "has_sensitive_variables",
    "task_queues",
)


def _flag(default: bool) -> Mapped[bool]:
    return mapped_column(sa.Boolean, default=default, server_default=sa.true() if default else sa.false())


def _counter() -> Mapped[int]:
    return mapped_column(sa.Integer, default=0, server_default=sa.text("0"))


def _seconds() -> Mapped[float]:
    return mapped_column(sa.Float, default=0.0, server_default=sa.text("0"))


def _created(index: bool = False) -> Mapped[dt.datetime]:
    return mapped_column(UTCDateTime, default=utcnow, server_default=sa.text("CURRENT_TIMESTAMP"), index=index)


class Job(Base):
    """An installed job class, with admin overrides of its class-level metadata."""

    __tablename__ = "job"
    __table_args__ = (
        sa.UniqueConstraint("source", "module_name", "job_class_name"),
        sa.UniqueConstraint("grouping", "name"),
    )
    _meta_label = "extras.job"
    _url_plural = "jobs"
    _ordering = ("grouping", "name")
    _slug_source = "slug_basis"

    # local, plugins, or git.<repository slug>
    source: Mapped[str] = mapped_column(sa.String(120))
    module_name: Mapped[str] = mapped_column(sa.String(100))
    job_class_name: Mapped[str] = mapped_column(sa.String(100))
    slug: Mapped[str] = mapped_column(sa.String(320), unique=True)
    grouping: Mapped[str] = mapped_column(sa.String(255))
    name: Mapped[str] = mapped_column(sa.String(100))
    description: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    installed: Mapped[bool] = _flag(True)
    enabled: Mapped[bool] = _flag(False)
    is_job_hook_receiver: Mapped[bool] = _flag(False)
    has_sensitive_variables: Mapped[bool] = _flag(True)
    approval_required: Mapped[bool] = _flag(False)
    commit_default: Mapped[bool] = _flag(True)
    hidden: Mapped[bool] = _flag(False)
    read_only: Mapped[bool] = _flag(False)
    soft_time_limit: Mapped[float] = _seconds()
    time_limit: Mapped[float] = _seconds()
    task_queues: Mapped[list[str]] = mapped_column(sa.JSON, default=list, server_default=sa.text("'[]'"))
    grouping_override: Mapped[bool] = _flag(False)
    name_override: Mapped[bool] = _flag(False)
    description_override: Mapped[bool] = _flag(False)
    commit_default_override: Mapped[bool] = _flag(False)
    hidden_override: Mapped[bool] = _flag(False)
    read_only_override: Mapped[bool] = _flag(False)
    approval_required_override: Mapped[bool] = _flag(False)
    soft_time_limit_override: Mapped[bool] = _flag(False)
    time_limit_override: Mapped[bool] = _flag(False)
    has_sensitive_variables_override: Mapped[bool] = _flag(False)
    task_queues_override: Mapped[bool] = _flag(False)
    created: Mapped[dt.datetime] = _created()
    last_updated: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, server_default=sa.text("CURRENT_TIMESTAMP")
    )

    results: Mapped[RelatedObjects[JobResult]] = relationship(back_populates="job_model", passive_deletes=True)

    @property
    def slug_basis(self) -> str:
        """What the slug is made from: source, module and class joined by hyphens, as Nautobot names jobs."""
        return f"{self.source}-{self.module_name}-{self.job_class_name}".replace(".", "-")

    @property
    def class_path(self) -> str:
        """``source/module_name/JobClassName``, the stable identity of the job class."""
        return f"{self.source}/{self.module_name}/{self.job_class_name}"

    @property
    def runnable(self) -> bool:
        """Whether the job can be started now."""
        return bool(self.enabled and self.installed)

    def clean(self) -> None:
        """Approvers would see the submitted values, so sensitive jobs cannot need approval."""
        if self.has_sensitive_variables and self.approval_required:
            raise ValidationError("A job that may have sensitive variables cannot be marked as requiring approval")
        for field in ("soft_time_limit", "time_limit"):
            value = getattr(self, field)
            if value is not None and value < 0:
                raise ValidationError(f"Job: {field} {value} cannot be negative (0 means the system default)")


class JobResult(Base):
    """One run (or queued run) of a job, with its status, outcome and log-level counters."""

    __tablename__ = "job_result"
    __table_args__ = (sa.Index(None, "status", "created"),)
    _meta_label = "extras.jobresult"
    _url_plural = "job-results"
    _ordering = ("-created",)

    job_model_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("job.id", ondelete="SET NULL"), index=True)
    name: Mapped[str] = mapped_column(sa.String(255), index=True)
    created: Mapped[dt.datetime] = _created(index=True)
    started: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    completed: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(sa.String(30), default="pending", server_default="pending")
    reason: Mapped[str | None] = mapped_column(sa.Text)
    data: Mapped[Any | None] = mapped_column(sa.JSON)
    job_kwargs: Mapped[Any | None] = mapped_column(sa.JSON)
    task_queue: Mapped[str | None] = mapped_column(sa.String(100))
    worker: Mapped[str | None] = mapped_column(sa.String(255))
    attempt: Mapped[int] = _counter()
    lease_expires: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    heartbeat: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    request: Mapped[Any | None] = mapped_column(sa.JSON)
    cancel_requested_by: Mapped[str | None] = mapped_column(sa.String(150))
    # The schedule that made this run (its occurrence, or an approver's dry run of it).
    schedule_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("scheduled_job.id", ondelete="SET NULL"), index=True
    )
    # The status run() and the tests ended with, committed with their changes while post_run() is still to run;
    # the run stays running until post_run() has finished, and a lost worker's run is then not run again.
    verdict: Mapped[str | None] = mapped_column(sa.String(30))
    # Where the code came from, for jobs from a Git repository: git.<slug>@<commit>.
    source: Mapped[str | None] = mapped_column(sa.String(200))
    log_default: Mapped[int] = _counter()
    log_success: Mapped[int] = _counter()
    log_info: Mapped[int] = _counter()
    log_warning: Mapped[int] = _counter()
    log_failure: Mapped[int] = _counter()

    job_model: Mapped[Job | None] = relationship(back_populates="results")
    user: Mapped[User | None] = relationship()
    logs: Mapped[RelatedObjects[JobLogEntry]] = relationship(
        back_populates="job_result",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by=lambda: (JobLogEntry.created, JobLogEntry.seq),
    )

    def __str__(self) -> str:
        return f"{self.name} started at {self.created} ({self.status})"

    @property
    def duration(self) -> str | None:
        """Wall time from creation to completion, e.g. ``"1 minutes, 2.50 seconds"``."""
        if self.completed is None or self.created is None:
            return None
        minutes, seconds = divmod(max((self.completed - self.created).total_seconds(), 0.0), 60)
        return f"{int(minutes)} minutes, {seconds:.2f} seconds"


class JobLogEntry(Base):
    """One log line of a job run, optionally pointing at the object it is about."""

    __tablename__ = "job_log_entry"
    __table_args__ = (sa.Index(None, "job_result_id", "created", "seq"),)
    _meta_label = "extras.joblogentry"
    _url_plural = "job-log-entries"
    _ordering = ("created", "seq")

    job_result_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("job_result.id", ondelete="CASCADE"))
    seq: Mapped[int] = _counter()
    log_level: Mapped[str] = mapped_column(sa.String(32), default="default", server_default="default")
    grouping: Mapped[str] = mapped_column(sa.String(100), default="main", server_default="main")
    message: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    created: Mapped[dt.datetime] = _created()
    log_object: Mapped[str | None] = mapped_column(sa.String(200))
    object_type: Mapped[str | None] = mapped_column(sa.String(100))
    object_id: Mapped[str | None] = mapped_column(sa.String(64))
    absolute_url: Mapped[str | None] = mapped_column(sa.String(255))

    job_result: Mapped[JobResult] = relationship(back_populates="logs")

    def __str__(self) -> str:
        return self.message


class OutboxEvent(Base):
    """An event written in the same transaction as the change it describes, published after commit.

    A relay publishes unpublished rows in ``created`` order and stamps ``published``;
    a crash between commit and publish only delays the event.
    """

    __tablename__ = "outbox_event"
    __table_args__ = (sa.Index(None, "published", "created"),)
    _meta_label = "extras.outboxevent"
    _url_plural = "outbox-events"
    _ordering = ("created",)

    created: Mapped[dt.datetime] = _created()
    exchange: Mapped[str] = mapped_column(sa.String(100))
    routing_key: Mapped[str] = mapped_column(sa.String(255))
    body: Mapped[Any] = mapped_column(sa.JSON)
    published: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
