"""The change log and the hooks that start runs on it.

``ObjectChange`` rows are history: they keep no foreign key to the object they
describe, so deleting the object keeps its record. ``JobHook`` names the
receiver job and what it listens to; deleting the Job record deletes its hooks.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jobruntime.core.clock import utcnow
from jobruntime.models.base import Base, model_for_label
from jobruntime.models.extras import Job
from jobruntime.models.types import UTCDateTime

ACTIONS = ("create", "update", "delete")
ACTION_LABELS = {"create": "created", "update": "updated", "delete": "deleted"}


class ObjectChange(Base):
    """One create, update or delete of an inventory object, with a snapshot of the object's fields."""

    __tablename__ = "object_change"
    __table_args__ = (sa.Index(None, "changed_object_type", "changed_object_id", "time"),)
    _meta_label = "extras.objectchange"
    _url_plural = "object-changes"
    _ordering = ("-time",)

    time: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, default=utcnow, server_default=sa.text("CURRENT_TIMESTAMP"), index=True
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"), index=True)
    user_name: Mapped[str] = mapped_column(sa.String(150), default="", server_default="")
    request_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, index=True)
    action: Mapped[str] = mapped_column(sa.String(50))
    changed_object_type: Mapped[str] = mapped_column(sa.String(100))
    changed_object_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    related_object_type: Mapped[str | None] = mapped_column(sa.String(100))
    related_object_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    object_repr: Mapped[str] = mapped_column(sa.String(200))
    object_data: Mapped[Any] = mapped_column(sa.JSON)
    change_context: Mapped[str] = mapped_column(sa.String(50))
    change_context_detail: Mapped[str] = mapped_column(sa.String(400), default="", server_default="")

    @property
    def changed_object(self) -> Base | None:
        """The changed object as it is now, as Nautobot's generic relation gives it: None once it is deleted
        (``object_data`` keeps its snapshot)."""
        return model_for_label(self.changed_object_type).objects.filter(pk=self.changed_object_id).first()

    def __str__(self) -> str:
        app, _, model = self.changed_object_type.partition(".")
        label = ACTION_LABELS.get(self.action, self.action)
        return f"{app} | {model} {self.object_repr} {label} by {self.user_name or 'Undefined'}"


class JobHook(Base):
    """Starts a run of a receiver job for each committed change of the listed types and actions."""

    __tablename__ = "job_hook"
    _meta_label = "extras.jobhook"
    _url_plural = "job-hooks"
    _ordering = ("name",)
    _slug_source = "name"

    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    job_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("job.id", ondelete="CASCADE"), index=True)
    content_types: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True, server_default=sa.true())
    type_create: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    type_update: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    type_delete: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())

    job: Mapped[Job] = relationship()

    @property
    def actions(self) -> tuple[str, ...]:
        """The actions the hook listens to, in create/update/delete order."""
        return tuple(action for action in ACTIONS if getattr(self, f"type_{action}"))
