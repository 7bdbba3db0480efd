"""Process-wide resources, built once from Settings and passed to whatever runs jobs.

A worker, the CLI and the test helper all build one Runtime; nothing below it
reads the environment or opens connections of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.orm import Session

from jobruntime.authoring.compat.django_settings import bind as bind_nautobot_settings
from jobruntime.core.capabilities import Capabilities
from jobruntime.core.sanitize import Sanitizer
from jobruntime.core.settings import InvalidSetting, Settings
from jobruntime.run.log import LogWriter
from jobruntime.store.database import make_engine

if TYPE_CHECKING:
    from jobruntime.storage import Store


@dataclass
class Runtime:
    """Settings, database engines and the log writer. ``events=True`` (workers) records outbox events;
    ``on_commit`` receives the outbox rows of each commit, so they can be published at once."""

    settings: Settings
    engine: Engine
    sanitizer: Sanitizer
    events: bool = False
    on_commit: Callable[[Sequence[dict[str, Any]]], None] | None = None
    log_writer: LogWriter = field(init=False)
    autocommit_engine: Engine = field(init=False)

    def __post_init__(self) -> None:
        bind_nautobot_settings(self.settings)
        self.autocommit_engine = make_engine(self.engine.url, autocommit=True)
        # COPY is one statement and needs no transaction; SQLite's executemany does.
        self.log_writer = LogWriter(
            self.engine,
            autocommit_engine=self.autocommit_engine if Capabilities.of(self.engine).copy else None,
            events=self.events,
            on_commit=self.committed,
        )

    def committed(self, events: Sequence[dict[str, Any]]) -> None:
        """Hand the owner the outbox rows a commit just made durable."""
        if events and self.on_commit is not None:
            self.on_commit(events)

    @cached_property
    def store(self) -> Store:
        """The file store of ``storage_url``, opened on first need (most runs take no file)."""
        from jobruntime.storage import open_store

        return open_store(self.settings.effective_storage_url)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, *, events: bool = False, relaxed: bool = False) -> Runtime:
        """``relaxed`` (PostgreSQL): commits do not wait for the WAL flush; the owner makes them durable
        (``database.flush_commits``) before anything depends on them, as a worker deciding a batch does."""
        settings = settings or Settings()
        return cls(
            settings=settings,
            engine=_engine_for(settings, relaxed),
            sanitizer=Sanitizer(settings.sanitizer_patterns),
            events=events,
        )

    def session(self, *, autocommit: bool = False) -> Session:
        """A new ORM session; callers own its transaction.

        ``autocommit=True`` suits reads on hot paths: each statement commits by itself,
        saving the BEGIN and COMMIT round trips (see ``database.make_engine`` for its durability).
        """
        return Session(self.autocommit_engine if autocommit else self.engine, expire_on_commit=False)


def _engine_for(settings: Settings, relaxed: bool = False) -> Engine:
    """The settings' database engine; a URL that names no usable database is a bad setting, said so."""
    try:
        return make_engine(settings.effective_database_url, relaxed=relaxed)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise InvalidSetting("database_url", f"not a database URL SQLAlchemy can use ({exc})") from None
    except OSError as exc:  # the embedded SQLite file's directory cannot be created
        setting = "database_url" if settings.database_url else "home"
        raise InvalidSetting(setting, f"cannot create the database's directory ({exc})") from None
