"""Git repositories that provide jobs (``git.<slug>/<module>/<Class>``).

Only the *name* of the environment variable holding a token or an SSH key is
stored: the secret itself stays in each process's environment.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from jobruntime.core.clock import utcnow
from jobruntime.models.base import Base
from jobruntime.models.types import UTCDateTime


class GitRepository(Base):
    """A repository whose ``jobs/`` folder is a job source; ``current_head`` is the commit new runs use."""

    __tablename__ = "git_repository"
    _meta_label = "extras.gitrepository"
    _url_plural = "git-repositories"
    _ordering = ("name",)

    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    remote_url: Mapped[str] = mapped_column(sa.String(500))
    branch: Mapped[str] = mapped_column(sa.String(255), default="main", server_default="main")
    token_env: Mapped[str | None] = mapped_column(sa.String(100))
    ssh_key_env: Mapped[str | None] = mapped_column(sa.String(100))
    current_head: Mapped[str | None] = mapped_column(sa.String(64))
    created: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, server_default=sa.text("CURRENT_TIMESTAMP"))
    last_synced: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    @property
    def source(self) -> str:
        """The source part of its jobs' class paths."""
        return f"git.{self.slug}"
