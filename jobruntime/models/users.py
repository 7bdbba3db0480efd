"""The people (and service accounts) that run jobs."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from jobruntime.models.base import Base
from jobruntime.models.types import UTCDateTime, utcnow


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
