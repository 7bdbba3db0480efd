"""Process-wide resources, built once from Settings and passed to whatever runs jobs.

A worker, the CLI and the test helper all build one Runtime; nothing below it
reads the environment or opens connections of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from jobruntime.database import make_engine
from jobruntime.runlog import LogWriter
from jobruntime.sanitize import Sanitizer
from jobruntime.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sanitizer: Sanitizer
    log_writer: LogWriter = field(init=False)
    autocommit_engine: Engine = field(init=False)

    def __post_init__(self) -> None:
        self.autocommit_engine = make_engine(self.engine.url, autocommit=True)
        # COPY is one statement and needs no transaction; SQLite's executemany does.
        self.log_writer = LogWriter(self.autocommit_engine if self.engine.dialect.name == "postgresql" else self.engine)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Runtime:
        settings = settings or Settings()
        return cls(
            settings=settings,
            engine=make_engine(settings.effective_database_url),
            sanitizer=Sanitizer(settings.sanitizer_patterns),
        )

    def session(self, *, autocommit: bool = False) -> Session:
        """A new ORM session; callers own its transaction.

        ``autocommit=True`` suits reads and single-statement writes on hot paths: each
        statement commits by itself, saving the BEGIN and COMMIT round trips.
        """
        return Session(self.autocommit_engine if autocommit else self.engine, expire_on_commit=False)
