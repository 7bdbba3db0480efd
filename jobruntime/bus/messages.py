"""The wire contract: versioned JSON messages that ask for runs and report on them.

A run request comes from anyone who can publish to the broker, so every field is
validated here and a bad message becomes a ``MalformedMessage`` with a reason a
publisher can act on, never a crashed worker. Events go the other way (worker to
followers, dashboards and job hooks); their routing keys are built here too so
publishers and subscribers cannot drift apart.

Version 1 is the only version. A worker refuses any other version instead of
guessing, so a future format change is a deliberate, visible upgrade.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
import uuid
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from jobruntime.authoring.discovery import InvalidClassPath, split_class_path
from jobruntime.authoring.job import LOG_LEVELS
from jobruntime.core.clock import utcnow
from jobruntime.core.errors import RefusalError
from jobruntime.core.limits import REASON_LIMIT, oversized_request, quote, truncate
from jobruntime.core.statuses import RESULT_STATUSES

MESSAGE_VERSION = 1
MAX_NESTING = 64  # levels of arrays and objects a request may nest; job input is far shallower
OUTPUT_LIMIT = 4000  # characters of output, or of one log message, an event carries (the database keeps more)
ERROR_ROUTING_KEY = "job.error"

ResultStatus = Literal[RESULT_STATUSES]  # type: ignore[valid-type]

_SECRET_FIELDS = frozenset({"token", "signature"})
_SURROGATE = re.compile("[\ud800-\udfff]")  # what JSON's \\uXXXX escapes allow and UTF-8 cannot encode
_FILE_SCHEMES = ("s3", "file")
_JSON_TYPES = {
    list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean", type(None): "null"
}


class MalformedMessage(RefusalError, ValueError):
    """A run request that cannot be understood; ``str()`` is the reason to report.

    ``job_result_id`` and ``job`` are taken from the raw JSON when they are present
    and well-formed even though the message as a whole is not, so the handler can
    still mark that run ``errored`` instead of only dead-lettering the message.
    """

    def __init__(self, reason: str, *, job_result_id: uuid.UUID | None = None, job: str | None = None) -> None:
        reason = truncate(reason, REASON_LIMIT)  # one problem per item of a long list adds up
        super().__init__(reason)
        self.reason = reason
        self.job_result_id = job_result_id
        self.job = job


def _dumps(value: Any) -> bytes:
    """Compact JSON with sorted keys: the same request always gives the same bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _job_reference(value: str) -> str:
    """Canonical form of a job reference (a Job record UUID or a class_path); ValueError if neither."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        pass
    try:
        split_class_path(value)
    except InvalidClassPath:
        raise ValueError(
            "must be a class path (local/<module>/<Class>, plugins/<module.path>/<Class>"
            " or git.<slug>/<module>/<Class>)"
            f" or a Job record UUID, not {quote(repr(value))}"
        ) from None
    return value


class FileRef(BaseModel):
    """An uploaded file: the bytes are stored first, the message only points at them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="s3://bucket/key or file:///path of the stored bytes.")
    name: str = Field(min_length=1, max_length=255, description="The file name as uploaded.")
    size: int = Field(ge=0, description="Size in bytes.")
    sha256: str = Field(description="Hex SHA-256 of the bytes, checked when the worker fetches them.")
    content_type: str | None = Field(default=None, max_length=255, description="MIME type, e.g. text/csv.")

    @field_validator("url")
    @classmethod
    def _stored_url(cls, value: str) -> str:
        parts = urlsplit(value)
        located = bool(parts.netloc and parts.path.strip("/")) if parts.scheme == "s3" else bool(parts.path)
        if parts.scheme not in _FILE_SCHEMES or not located:
            raise ValueError(f"must be an s3://bucket/key or file:///path URL, not {quote(repr(value))}")
        return value

    @field_validator("sha256")
    @classmethod
    def _hex_digest(cls, value: str) -> str:
        if len(value) != 64 or any(char not in "0123456789abcdefABCDEF" for char in value):
            raise ValueError("must be the 64 hexadecimal characters of the file's SHA-256")
        return value.lower()


class RunRequest(BaseModel):
    """A request to run one job, as published on ``jobruntime.run`` (version 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = MESSAGE_VERSION
    job: str = Field(
        description="local/<module>/<Class>, plugins/<module.path>/<Class>, git.<slug>/<module>/<Class>,"
        " or a Job record UUID."
    )
    data: dict[str, Any] = Field(default_factory=dict, description="Job variables, as in Nautobot's REST API.")
    files: dict[str, FileRef] = Field(default_factory=dict, description="FileVar values, by variable name.")
    commit: bool | None = Field(default=None, strict=True, description="true, false or null (the job's default).")
    task_queue: str | None = Field(default=None, min_length=1, max_length=100)
    job_result_id: uuid.UUID = Field(
        default_factory=uuid.uuid4, description="Idempotency key: a redelivered request never runs twice."
    )
    requested_by: str = Field(min_length=1, max_length=150, description="Username the run is recorded against.")
    token: str | None = Field(default=None, min_length=1, description="The user's API token key.")
    signature: str | None = Field(default=None, min_length=1, description="Hex HMAC-SHA256 of internal publishers.")
    schedule: dict[str, Any] | None = Field(default=None, description="Reserved; must be null in version 1.")
    profile: bool = Field(default=False, strict=True)
    client_address: str | None = None
    requested_at: AwareDatetime = Field(default_factory=utcnow)

    @field_validator("job")
    @classmethod
    def _job_shape(cls, value: str) -> str:
        return _job_reference(value)

    @field_validator("schedule")
    @classmethod
    def _no_schedule_yet(cls, value: dict[str, Any] | None) -> None:
        if value is not None:
            raise ValueError(
                "scheduled runs are not supported yet; send the request without a schedule to run it now"
            )
        return None

    @field_validator("requested_at")
    @classmethod
    def _in_utc(cls, value: dt.datetime) -> dt.datetime:
        return value.astimezone(dt.timezone.utc)

    @classmethod
    def parse(cls, body: bytes | str, *, max_bytes: int | None = None) -> RunRequest:
        """Validate a message body; raises MalformedMessage listing every problem found.

        A body longer than ``max_bytes`` is refused before it is read at all, and bytes
        must be UTF-8. Beyond the schema, the body must be storable as it is: no NaN or
        infinite numbers (JSON has none, and PostgreSQL refuses them), no NUL characters
        or lone surrogates (PostgreSQL text cannot hold them) and no nesting deeper than
        ``MAX_NESTING``.
        """
        size = len(body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body)
        if max_bytes is not None and size > max_bytes:
            raise MalformedMessage(oversized_request(size, max_bytes))
        try:
            text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else body  # not json's guesswork
            raw = json.loads(text, parse_constant=_BadNumber, parse_float=_finite_float)
        except json.JSONDecodeError as exc:
            raise MalformedMessage(
                f"Invalid JSON at line {exc.lineno} column {exc.colno} (char {exc.pos}): {exc.msg}"
            ) from None
        except UnicodeDecodeError as exc:
            raise MalformedMessage(f"Message body is not UTF-8 text: {exc.reason} at byte {exc.start}") from None
        except ValueError as exc:  # an integer longer than Python converts (4300 digits)
            raise MalformedMessage(f"A number in the request cannot be read: {exc}") from None
        except RecursionError:
            raise MalformedMessage(f"The JSON is nested more than {MAX_NESTING} levels deep") from None
        if not isinstance(raw, dict):
            kind = f"the number {raw}" if isinstance(raw, _BadNumber) else _JSON_TYPES[type(raw)]
            raise MalformedMessage(f"A run request must be a JSON object, not {kind}")
        known = _known_identity(raw)
        problem = _unstorable(raw)
        if problem is not None:
            raise MalformedMessage(problem, **known)
        version = raw.get("version", MESSAGE_VERSION)
        if type(version) is not int or version != MESSAGE_VERSION:
            raise MalformedMessage(
                f"Unsupported message version {json.dumps(version)}; "
                f"this worker understands version {MESSAGE_VERSION}",
                **known,
            )
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise MalformedMessage(describe_validation_error(exc), **known) from None

    @property
    def job_record_id(self) -> uuid.UUID | None:
        """The Job record's id when the request names the job by UUID rather than class_path."""
        try:
            return uuid.UUID(self.job)
        except ValueError:
            return None

    def to_json(self) -> bytes:
        """The message body to publish, credentials included."""
        return _dumps(self.model_dump(mode="json"))

    def stored(self) -> dict[str, Any]:
        """What may be persisted to re-queue the run: everything but the credentials.

        A re-queued request carries no token, so it must be re-signed by an
        internal publisher (the reaper) to pass authentication again.
        """
        return self.model_dump(mode="json", exclude=set(_SECRET_FIELDS))

    def canonical_bytes(self) -> bytes:
        """The bytes a signature covers: ``stored()`` as sorted, compact, UTF-8 JSON.

        They are computed from the parsed request, so an external signer must sign
        the normalized form (canonical UUIDs, UTC times ending in ``Z``).
        """
        return _dumps(self.stored())


class _BadNumber(str):
    """``NaN``, ``Infinity`` or a number too large for a float: Python's parser takes them, JSON has none."""


def _finite_float(text: str) -> float | _BadNumber:
    number = float(text)
    return _BadNumber(text[:40]) if math.isinf(number) else number


def _unstorable(raw: Any) -> str | None:
    """Why ``raw`` cannot be stored as it is (a NUL character, too deep a nesting), or None."""
    pending: list[tuple[Any, str, int]] = [(raw, "", 0)]
    while pending:
        value, where, depth = pending.pop()
        if depth > MAX_NESTING:
            top = where.split(".")[0].split("[")[0]
            return f"{top or 'The request'} is nested more than {MAX_NESTING} levels deep"
        if isinstance(value, _BadNumber):
            return f"{where} is {value}, which is not a finite JSON number"
        if isinstance(value, str):
            if "\x00" in value:
                return f"{where or 'The request'} contains a NUL character, which cannot be stored"
            if _SURROGATE.search(value):
                return f"{where or 'The request'} contains a lone UTF-16 surrogate (\\ud800-\\udfff), which is not text"
        elif isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    return f"A key in {where or 'the request'} contains a NUL character, which cannot be stored"
                if _SURROGATE.search(key):
                    return f"A key in {where or 'the request'} contains a lone UTF-16 surrogate, which is not text"
                pending.append((item, f"{where}.{key}" if where else key, depth + 1))
        elif isinstance(value, list):
            pending.extend((item, f"{where}[{index}]", depth + 1) for index, item in enumerate(value))
    return None


def _known_identity(raw: dict[str, Any]) -> dict[str, Any]:
    """``job_result_id`` and ``job`` from a raw message, each only when well-formed."""
    known: dict[str, Any] = {"job_result_id": None, "job": None}
    raw_id, raw_job = raw.get("job_result_id"), raw.get("job")
    if isinstance(raw_id, str):
        try:
            known["job_result_id"] = uuid.UUID(raw_id)
        except ValueError:
            pass
    if isinstance(raw_job, str) and "\x00" not in raw_job:
        try:
            known["job"] = _job_reference(raw_job)
        except ValueError:
            pass
    return known


def describe_validation_error(error: ValidationError) -> str:
    """Every field error as ``<field>: <message>``, joined by ``"; "``."""
    problems = []
    for item in error.errors():
        message = item["msg"].removeprefix("Value error, ")
        where = ".".join(str(part) for part in item["loc"])
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)


def message_schema() -> dict[str, Any]:
    """The JSON Schema of a run request, for publishers written in other languages."""
    return RunRequest.model_json_schema()


def result_routing_key(status: str) -> str:
    """``job.result.<status>``; raises ValueError for a status a subscriber could never bind to."""
    if status not in RESULT_STATUSES:
        raise ValueError(f"Unknown job status {status!r}; expected one of: {', '.join(RESULT_STATUSES)}")
    return f"job.result.{status}"


def log_routing_key(level: str) -> str:
    """``job.log.<level>``; raises ValueError for a level outside the job logging API."""
    if level not in LOG_LEVELS:
        raise ValueError(f"Unknown log level {level!r}; expected one of: {', '.join(LOG_LEVELS)}")
    return f"job.log.{level}"


class Event(BaseModel):
    """Common envelope of every event on ``jobruntime.events``.

    Unknown fields are ignored so that a newer worker may add fields without
    breaking older followers; removing or changing one needs a new version.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    version: Literal[1] = MESSAGE_VERSION
    event: str
    emitted_at: AwareDatetime = Field(default_factory=utcnow)

    @property
    def routing_key(self) -> str:
        raise NotImplementedError

    def to_json(self) -> bytes:
        """The event body to publish."""
        return _dumps(self.model_dump(mode="json"))


class ResultEvent(Event):
    """A run changed status; terminal statuses carry timings, the summary and log counts."""

    event: Literal["job.result"] = "job.result"
    job_result_id: uuid.UUID
    job: str
    status: ResultStatus
    reason: str | None = None
    created: AwareDatetime
    started: AwareDatetime | None = None
    completed: AwareDatetime | None = None
    duration: float | None = Field(default=None, ge=0, description="Seconds from created to completed.")
    output: str | None = Field(default=None, description=f"run()'s return value, cut at {OUTPUT_LIMIT} characters.")
    log_counts: dict[str, int] = Field(default_factory=dict)
    user: str | None = None
    task_queue: str | None = None
    source: str | None = Field(default=None, description="git.<slug>@<commit> for a job from a Git repository.")
    files: list[dict[str, Any]] = Field(
        default_factory=list, description="Output files: name, size, sha256, content_type, url, download_url."
    )

    @field_validator("output")
    @classmethod
    def _truncated(cls, value: str | None) -> str | None:
        return None if value is None else truncate(value, OUTPUT_LIMIT)

    @field_validator("reason")
    @classmethod
    def _short_reason(cls, value: str | None) -> str | None:
        return None if value is None else truncate(value, REASON_LIMIT)

    @property
    def routing_key(self) -> str:
        return result_routing_key(self.status)


class LogEventEntry(BaseModel):
    """One log line of a run, as the JobLogEntry row records it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    seq: int
    created: AwareDatetime
    grouping: str
    log_level: str
    message: str
    log_object: str | None = None
    object_type: str | None = None
    object_id: str | None = None

    @field_validator("message")
    @classmethod
    def _truncated(cls, value: str) -> str:
        return truncate(value, OUTPUT_LIMIT)


class LogEvent(Event):
    """A batch of log lines of one run, all of one level so subscribers can bind by level."""

    event: Literal["job.log"] = "job.log"
    job_result_id: uuid.UUID
    level: str
    entries: list[LogEventEntry]

    @field_validator("level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        log_routing_key(value)
        return value

    @model_validator(mode="after")
    def _one_level(self) -> LogEvent:
        stray = sorted({entry.log_level for entry in self.entries} - {self.level})
        if stray:
            raise ValueError(f"a log event of level {self.level} cannot carry {', '.join(stray)} entries")
        return self

    @property
    def routing_key(self) -> str:
        return log_routing_key(self.level)


def body_sha256(body: bytes) -> str:
    """Hex SHA-256 of a message body as published: how a follower recognises the answer to its own request."""
    return hashlib.sha256(body).hexdigest()


class ErrorEvent(Event):
    """A message no run could come of (malformed, refused); also dead-lettered.

    ``request_sha256`` (``body_sha256`` of the request answered) lets the follower of a
    run ignore the refusal of someone else's request that named the same run.
    """

    event: Literal["job.error"] = "job.error"
    reason: str
    job_result_id: uuid.UUID | None = None
    job: str | None = None
    queue: str | None = None
    request_sha256: str | None = None

    @field_validator("reason")
    @classmethod
    def _short_reason(cls, value: str) -> str:
        return truncate(value, REASON_LIMIT)

    @field_validator("job")
    @classmethod
    def _short_job(cls, value: str | None) -> str | None:
        return None if value is None else quote(value)

    @classmethod
    def for_malformed(cls, error: MalformedMessage, queue: str | None = None, *, body: bytes) -> ErrorEvent:
        """The event that reports a malformed request ``body`` received on ``queue``."""
        return cls(reason=error.reason, job_result_id=error.job_result_id, job=error.job, queue=queue,
                   request_sha256=body_sha256(body))

    @property
    def routing_key(self) -> str:
        return ERROR_ROUTING_KEY
