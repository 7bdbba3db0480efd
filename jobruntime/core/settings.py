"""Configuration, read once from the environment (prefix ``JOBRUNTIME_``) and passed in.

Every backend is a URL so the same code runs on a laptop (embedded defaults, no
servers) and in production (PostgreSQL, RabbitMQ, S3).

Every command reads the settings first, so they are a plain dataclass checked
here rather than a pydantic model: importing pydantic-settings alone costs about
0.2 s of start-up, a third of a whole `runjob --local`. Values come from the
keyword arguments, else from ``JOBRUNTIME_<NAME>``, else the default; a bad one
raises ``InvalidSetting`` naming the environment variable.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jobruntime.core.errors import SetupError
from jobruntime.core.parsing import parse_flag, parse_number

ENV_PREFIX = "JOBRUNTIME_"
# The reference's two patterns: URL userinfo (anything before an "@") and "username/password [is|:] x".
# The first starts a match only where the reference's could (after a space, an "@" or at the start),
# which keeps its results and makes it linear: tried at every character of a long word, it was quadratic.
# The second never takes a Markdown code fence (``` or ~~~) for the secret that follows the word.
REFERENCE_SANITIZER_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"(?i)(?<![^\s@])(https?://)?\S+\s*@", r"\1{replacement}@"),
    (r"(?i)(username|password|passwd|pwd)((?:\s+is.?|:)?\s+)(?!```|~~~)\S+", r"\1\2{replacement}"),
)
# Credential shapes the reference misses. They run before the reference patterns, which would
# otherwise take the type digit of "password 7 <hash>" for the secret and leave the hash.
CREDENTIAL_SANITIZER_PATTERNS: tuple[tuple[str, str], ...] = (
    # Cisco "enable secret|password [type] <value>".
    (r"(?i)\b(enable\s+(?:secret|password))(\s+)(?:\d\s+)?\S+", r"\1\2{replacement}"),
    # Cisco "... secret|password <type digit> <hash>" (username lines, line passwords).
    (r"(?i)\b(secret|password)(\s+)\d\s+\S+", r"\1\2{replacement}"),
    (r"(?i)\b(snmp-server\s+community)(\s+)\S+", r"\1\2{replacement}"),
    # "Authorization: Bearer|Basic|Token <value>" (header, curl -H, JSON).
    (
        r"(?i)\b(authorization)([\"']?\s*[:=]\s*[\"']?)((?:bearer|basic|token|digest|negotiate)\s+)?[^\s\"',;]+",
        r"\1\2\3{replacement}",
    ),
    # key=value, key: value and "key": "value" for password-, secret-, token- and key-like names.
    (
        r"(?i)\b(password|passwd|pwd|passphrase|secret|client_secret|token|auth_token|access_token|api[_-]?key"
        r"|access[_-]?key|secret[_-]?key|private[_-]?key)([\"']?\s*[:=]\s*[\"']?)"
        r"(?:(?<=\")[^\"\n]*|(?<=')[^'\n]*|[^\s\"',;&]+)",
        r"\1\2{replacement}",
    ),
)
DEFAULT_SANITIZER_PATTERNS = CREDENTIAL_SANITIZER_PATTERNS + REFERENCE_SANITIZER_PATTERNS
MAX_TIME_LIMIT = 7 * 24 * 60 * 60  # seconds: the longest soft or hard time limit a run may have
QUEUE_TYPES = ("quorum", "classic")
# What wraps every run a worker makes, in order (see jobruntime.worker.middleware).
DEFAULT_MIDDLEWARE = (
    "jobruntime.worker.leases.KeepLease",
    "jobruntime.worker.middleware.FlushLog",
    "jobruntime.worker.timelimits.HardLimit",
)
_DOTTED_CLASS = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")


class InvalidSetting(SetupError, ValueError):
    """A setting has a value the runtime cannot use; the message names its environment variable."""

    def __init__(self, name: str, problem: str) -> None:
        self.variable = ENV_PREFIX + name.upper()
        super().__init__(f"Invalid setting {self.variable}: {problem}")


def _directory(value: Any) -> Path:
    if not isinstance(value, (str, Path)):
        raise TypeError(f"expected a path, got {value!r}")
    return Path(value).expanduser().resolve()


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {value!r}")
    return value


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _json_list(value: Any) -> list:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"expected a JSON list ({exc})") from None
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"expected a list, got {value!r}")
    return list(value)


def _json_object(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"expected a JSON object ({exc})") from None
    if not isinstance(value, dict):
        raise TypeError(f"expected a JSON object, got {value!r}")
    return dict(value)


def _module_names(value: Any) -> list[str]:
    return [_text(item) for item in _json_list(value)]


def _class_names(value: Any) -> list[str]:
    names = _module_names(value)
    for name in names:
        if not _DOTTED_CLASS.match(name):
            raise ValueError(f"expected dotted class names such as jobruntime.worker.leases.KeepLease, got {name!r}")
    return names


def _patterns(value: Any) -> list[tuple[str, str]]:
    pairs = []
    for item in _json_list(value):
        if not isinstance(item, (list, tuple)) or len(item) != 2 or not all(isinstance(part, str) for part in item):
            raise ValueError(f"each pattern must be a [regex, replacement] pair of text, got {item!r}")
        pairs.append((item[0], item[1]))
    return pairs


def _bounded(minimum: float, maximum: float = math.inf, *, above: bool = False, kind: type | None = None):
    """A check for a number in [minimum, maximum], or above ``minimum`` when ``above``."""

    def check(value: Any) -> int | float:
        number = parse_number(value, kind)
        if number < minimum or (above and number == minimum):
            raise ValueError(f"must be {'greater than' if above else 'at least'} {minimum}, got {number}")
        if number > maximum:
            raise ValueError(f"must be at most {maximum}, got {number}")
        return number

    return check


def _queue_type(value: Any) -> str:
    if value not in QUEUE_TYPES:
        raise ValueError(f"expected one of {', '.join(QUEUE_TYPES)}, got {value!r}")
    return value


def _time_zone(value: Any) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = _text(value)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as Europe/Paris or UTC") from None
    return name


def _storage_url(value: Any) -> str | None:
    if value is None:
        return None
    parts = urlsplit(_text(value))
    if (parts.scheme == "file" and parts.path and not parts.netloc) or (parts.scheme == "s3" and parts.netloc):
        return value
    raise ValueError(f"expected file:///<directory> or s3://<bucket>[/<prefix>], got {value!r}")


def _env(name: str, default: Any) -> Callable[[], Any]:
    """A default factory: the environment variable's text if set, else ``default`` (copied if mutable)."""

    def read() -> Any:
        text = os.environ.get(ENV_PREFIX + name.upper())
        if text is not None:
            return text
        return list(default) if isinstance(default, (list, tuple)) else default

    return read


def _setting(name: str, default: Any, check: Callable[[Any], Any], *, secret: bool = False) -> Any:
    """A field read from ``JOBRUNTIME_<NAME>`` when not given, and always passed through ``check``."""
    return dataclasses.field(default_factory=_env(name, default), metadata={"check": check}, repr=not secret)


@dataclasses.dataclass(frozen=True)
class Settings:
    """All runtime settings. Build one with ``Settings()`` and hand it down; ``replace()`` derives one."""

    # Directory of the embedded database and files, and the SQLAlchemy URL (default: SQLite under home).
    home: Path = _setting("home", Path(".jobruntime"), _directory)
    database_url: str | None = _setting("database_url", None, _optional_text)
    # Local job modules (a directory with __init__.py) and importable modules that provide jobs.
    jobs_root: Path = _setting("jobs_root", Path("jobs"), _directory)
    plugin_job_modules: list[str] = _setting("plugin_job_modules", [], _module_names)
    # Per-plugin settings Nautobot-style jobs read as django.conf.settings.PLUGINS_CONFIG[<plugin>].
    plugins_config: dict[str, Any] = _setting("plugins_config", {}, _json_object)
    # Commits of Git repositories kept on disk under home/git (least recently used removed first).
    git_cache_commits: int = _setting("git_cache_commits", 50, _bounded(1, kind=int))
    sanitizer_patterns: list[tuple[str, str]] = _setting("sanitizer_patterns", DEFAULT_SANITIZER_PATTERNS, _patterns)
    # Seconds; jobs may set their own.
    soft_time_limit: int | float = _setting("soft_time_limit", 300, _bounded(0, MAX_TIME_LIMIT))
    time_limit: int | float = _setting("time_limit", 600, _bounded(0, MAX_TIME_LIMIT))
    default_queue: str = _setting("default_queue", "default", _text)
    # kombu URL: memory:// (in-process) or amqp://...; the RabbitMQ type of run queues.
    broker_url: str = _setting("broker_url", "memory://", _text)
    queue_type: str = _setting("queue_type", "quorum", _queue_type)
    # Refuse to publish to a queue no worker consumes (off for scale-from-zero).
    check_consumers: bool = _setting("check_consumers", True, parse_flag)
    # How long a claimed run stays leased without renewal; deliveries/re-queues before a run is given up.
    lease_seconds: float = _setting("lease_seconds", 30.0, _bounded(0, above=True, kind=float))
    max_attempts: int = _setting("max_attempts", 3, _bounded(1, kind=int))
    # HMAC secret of internal publishers (scheduler, job hooks, ops CLI).
    signing_secret: str | None = _setting("signing_secret", None, _optional_text, secret=True)
    # Signs the web interface's session cookies; every gateway process behind one address needs the same one
    # (unset: each process makes its own, and a sign-in lasts only as long as that process).
    web_secret: str | None = _setting("web_secret", None, _optional_text, secret=True)
    # Unacknowledged messages per worker process (those behind a run that outlasts its claim window are handed back).
    prefetch: int = _setting("prefetch", 32, _bounded(1, kind=int))
    # Short runs a worker process decides together (one durable commit, one multiple ack, one confirm wait for
    # their events; 1: each run alone), and the longest a batch stays open for more runs, in seconds. The
    # defaults drained a backlog fastest in benchmarks.bench_drain (16 runs or 5 ms drained a third slower).
    batch_size: int = _setting("batch_size", 32, _bounded(1, kind=int))
    batch_time: float = _setting("batch_time", 0.02, _bounded(0, kind=float))
    # Log entries written per database round trip; seconds between log flushes while a job runs.
    log_batch_size: int = _setting("log_batch_size", 500, _bounded(1, kind=int))
    log_flush_interval: float = _setting("log_flush_interval", 0.5, _bounded(0, kind=float))
    # Bytes of a run request body, checked before it is parsed (larger inputs travel as uploaded files).
    max_request_bytes: int = _setting("max_request_bytes", 1024 * 1024, _bounded(1, kind=int))
    # Characters of one log message, and of a run's output, kept in the database (events carry less).
    max_stored_text: int = _setting("max_stored_text", 1024 * 1024, _bounded(100, kind=int))
    # IANA zone of schedules made without --tz; seconds between a supervisor's passes over due schedules.
    time_zone: str = _setting("time_zone", "UTC", _time_zone)
    schedule_interval: float = _setting("schedule_interval", 1.0, _bounded(0, above=True, kind=float))
    # Record ObjectChanges of committed runs; switched off only to measure what recording costs (benchmarks).
    change_logging: bool = _setting("change_logging", True, parse_flag)
    # Where uploaded and output files live: file:///dir or s3://bucket/prefix (default: file://$HOME/files).
    storage_url: str | None = _setting("storage_url", None, _storage_url)
    # Bytes one uploaded file may have.
    max_upload_bytes: int = _setting("max_upload_bytes", 100 * 1024 * 1024, _bounded(1, kind=int))
    # Middleware of worker processes: a JSON list of dotted class names, entered in order around each run.
    middleware: list[str] = _setting("middleware", DEFAULT_MIDDLEWARE, _class_names)

    def __post_init__(self) -> None:
        for spec in dataclasses.fields(self):
            try:
                value = spec.metadata["check"](getattr(self, spec.name))
            except (TypeError, ValueError) as exc:
                raise InvalidSetting(spec.name, str(exc)) from None
            object.__setattr__(self, spec.name, value)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (and checked)."""
        return dataclasses.replace(self, **changes)

    @cached_property
    def effective_database_url(self) -> str:
        """The database URL, falling back to the embedded SQLite file under ``home``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'jobruntime.db'}"

    @cached_property
    def effective_storage_url(self) -> str:
        """The storage URL, falling back to the ``files`` directory under ``home``."""
        return self.storage_url or (self.home / "files").as_uri()
