"""Changes made elsewhere (a Nautobot instance, a CMDB, a script), fed in as object-change messages.

A message uses Nautobot's ObjectChange field names and carries a user's token or
an HMAC signature over its canonical form (as run requests do). It is recorded with
context ``external`` and then treated like a change of our own: announced on
``object.change.*`` and matched against job hooks, all in one transaction.
``change_id`` is the idempotency key: a redelivered message records nothing new.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from jobruntime.bus.messages import describe_validation_error
from jobruntime.changes.hooks import write_with_hook_runs
from jobruntime.changes.recorder import EXTERNAL, Change
from jobruntime.core.errors import RefusalError
from jobruntime.models import ObjectChange
from jobruntime.models.users import User
from jobruntime.run.auth import check_credentials, requester
from jobruntime.run.runtime import Runtime
from jobruntime.store.prebuilt import on_connection

_LABEL = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*")
_CREDENTIALS = ("token", "signature")


class MalformedChange(RefusalError, ValueError):
    """An object-change message that cannot be understood or trusted; ``str()`` is the reason reported."""


class ObjectChangeMessage(BaseModel):
    """A change made outside jobruntime, published on exchange ``jobruntime.changes`` (version 1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    change_id: uuid.UUID = Field(description="Idempotency key: a redelivered change is recorded once.")
    time: AwareDatetime
    action: Literal["create", "update", "delete"]
    changed_object_type: str = Field(description="app_label.model, e.g. dcim.device.")
    changed_object_id: uuid.UUID
    object_repr: str = Field(max_length=200)
    object_data: dict[str, Any] = Field(description="The object after the change (before it, for a delete).")
    related_object_type: str | None = None
    related_object_id: uuid.UUID | None = None
    request_id: uuid.UUID | None = None
    user_name: str = Field(default="", max_length=150)
    requested_by: str = Field(min_length=1, max_length=150, description="Username the credentials are checked for.")
    token: str | None = Field(default=None, min_length=1)
    signature: str | None = Field(default=None, min_length=1, description="Hex HMAC-SHA256 of the canonical form.")

    @field_validator("changed_object_type", "related_object_type")
    @classmethod
    def _label(cls, value: str | None) -> str | None:
        if value is not None and not _LABEL.fullmatch(value):
            raise ValueError(f"{value!r} is not a model label such as dcim.device")
        return value

    @classmethod
    def parse(cls, body: bytes | str) -> ObjectChangeMessage:
        """Validate a message body; raises MalformedChange listing every problem found."""
        try:
            raw = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise MalformedChange(f"The object-change message is not JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise MalformedChange("An object-change message must be a JSON object")
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise MalformedChange(describe_validation_error(exc)) from None

    def canonical_bytes(self) -> bytes:
        """The bytes a signature covers: the message without credentials as sorted, compact, UTF-8 JSON."""
        body = self.model_dump(mode="json", exclude=set(_CREDENTIALS))
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    @property
    def routing_key(self) -> str:
        return f"object.change.{self.changed_object_type}.{self.action}"


def object_change_schema() -> dict[str, Any]:
    """The JSON Schema of an object-change message, for publishers written in other languages."""
    return ObjectChangeMessage.model_json_schema()


def record_external(runtime: Runtime, message: ObjectChangeMessage) -> list[dict[str, Any]] | None:
    """Check the message's credentials, then record it with its events and hook runs in one transaction.

    Returns the outbox rows to publish once committed, or None when ``change_id`` was
    recorded before (a redelivery). Raises PermissionError (AuthenticationFailed) saying
    why the credentials are refused.
    """
    with runtime.engine.connect() as connection:
        db = on_connection(connection)
        user = check_credentials(message, *requester(db, message), runtime.settings.signing_secret)
        if connection.execute(select(ObjectChange.id).where(ObjectChange.id == message.change_id)).first():
            return None
        change = Change(_row(message, user), _previous(connection, message), requested_by=user.username)
        try:
            rows = write_with_hook_runs(db, [change], runtime.settings, events=True)
            connection.commit()
        except (IntegrityError, connection.dialect.loaded_dbapi.IntegrityError):  # another delivery committed first
            connection.rollback()
            return None
    return rows


def _row(message: ObjectChangeMessage, user: User) -> dict[str, Any]:
    return {
        "id": message.change_id,
        "time": message.time,
        "user_id": user.id,
        "user_name": message.user_name or user.username,
        "request_id": message.request_id,
        "action": message.action,
        "changed_object_type": message.changed_object_type,
        "changed_object_id": message.changed_object_id,
        "related_object_type": message.related_object_type,
        "related_object_id": message.related_object_id,
        "object_repr": message.object_repr,
        "object_data": message.object_data,
        "change_context": EXTERNAL,
        "change_context_detail": message.requested_by,
    }


def _previous(connection: Connection, message: ObjectChangeMessage) -> dict[str, Any] | None:
    """The object's latest recorded snapshot, for the event's difference."""
    return connection.execute(
        select(ObjectChange.object_data)
        .where(ObjectChange.changed_object_type == message.changed_object_type,
               ObjectChange.changed_object_id == message.changed_object_id)
        .order_by(ObjectChange.time.desc()).limit(1)
    ).scalar()
