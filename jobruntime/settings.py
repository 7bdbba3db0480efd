"""Configuration, read once from the environment (prefix ``JOBRUNTIME_``) and passed in.

Every backend is a URL so the same code runs on a laptop (embedded defaults, no
servers) and in production (PostgreSQL, RabbitMQ, S3).
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SANITIZER_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"(?i)(https?://)?\S+\s*@", r"\1{replacement}@"),
    (r"(?i)(username|password|passwd|pwd)((?:\s+is.?|:)?\s+)\S+", r"\1\2{replacement}"),
)

MAX_TIME_LIMIT = 7 * 24 * 60 * 60  # seconds: the longest soft or hard time limit a run may have


class Settings(BaseSettings):
    """All runtime settings. Build one with ``Settings()`` and hand it down."""

    model_config = SettingsConfigDict(env_prefix="JOBRUNTIME_", extra="ignore")

    home: Path = Field(default=Path(".jobruntime"), description="Directory for the embedded database and files.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default is SQLite under home.")
    jobs_root: Path = Field(default=Path("jobs"), description="Directory of local job modules (needs __init__.py).")
    plugin_job_modules: list[str] = Field(default_factory=list, description="Importable modules that provide jobs.")
    sanitizer_patterns: list[tuple[str, str]] = Field(default_factory=lambda: list(DEFAULT_SANITIZER_PATTERNS))
    soft_time_limit: int | float = Field(default=300, ge=0, le=MAX_TIME_LIMIT, allow_inf_nan=False,
                                         description="Seconds; jobs may set their own.")
    time_limit: int | float = Field(default=600, ge=0, le=MAX_TIME_LIMIT, allow_inf_nan=False,
                                    description="Seconds; jobs may set their own.")
    default_queue: str = "default"
    broker_url: str = Field(default="memory://", description="kombu URL: memory:// (in-process) or amqp://...")
    queue_type: Literal["quorum", "classic"] = Field(default="quorum", description="RabbitMQ type of run queues.")
    check_consumers: bool = Field(
        default=True, description="Refuse to publish to a queue no worker consumes (off for scale-from-zero)."
    )
    lease_seconds: float = Field(default=30, gt=0, description="How long a claimed run stays leased without renewal.")
    max_attempts: int = Field(default=3, ge=1, description="Deliveries/re-queues of one run before it is given up.")
    signing_secret: str | None = Field(default=None, description="HMAC secret of internal publishers.")
    prefetch: int = Field(default=1, ge=1, description="Unacknowledged messages per worker process.")
    log_batch_size: int = Field(default=500, ge=1, description="Log entries written per database round trip.")
    log_flush_interval: float = Field(default=0.5, ge=0, description="Seconds between log flushes while a job runs.")

    @field_validator("home", "jobs_root")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @cached_property
    def effective_database_url(self) -> str:
        """The database URL, falling back to the embedded SQLite file under ``home``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'jobruntime.db'}"
