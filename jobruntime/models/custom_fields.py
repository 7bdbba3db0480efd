"""Custom fields: extra, user-defined values on inventory objects, as Nautobot 1.x keeps them.

A ``CustomField`` names a value (``region_code``), its type and rules, and the
models it applies to. Each object keeps its values in one JSON column,
``_custom_field_data`` (read as ``obj.cf`` or ``obj.custom_field_data``), keyed
by the field's name; ``validated_save()`` checks them against the fields of the
object's model, and ``filter(cf_region_code="x")`` finds objects by them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Sequence
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.ext.mutable import MutableDict
from sqlalchemy.orm import Mapped, Session, mapped_column, object_session, relationship

from jobruntime.core.parsing import parse_flag
from jobruntime.models.base import Base, Manager, ValidationRead, session_for
from jobruntime.models.content_type_set import ContentTypeSet, ForModelQuerySet
from jobruntime.models.errors import ValidationError
from jobruntime.models.related import RelatedObjects

TYPES = ("text", "integer", "boolean", "date", "url", "select", "multi-select", "json")
_DATA_COLUMN = "_custom_field_data"


def _empty_labels() -> list[str]:
    return []


class CustomField(Base):
    """One user-defined field: its ``name`` is the key of the value in each object's custom field data."""

    objects: ClassVar[Manager[Any]] = Manager(ForModelQuerySet)

    __tablename__ = "custom_field"
    _meta_label = "extras.customfield"
    _url_plural = "custom-fields"
    _ordering = ("weight", "name")

    name: Mapped[str] = mapped_column(sa.String(50), unique=True)
    label: Mapped[str] = mapped_column(sa.String(50), default="")
    type: Mapped[str] = mapped_column(sa.String(50), default="text")
    description: Mapped[str] = mapped_column(sa.String(200), default="")
    required: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    filter_logic: Mapped[str] = mapped_column(sa.String(50), default="loose")
    default: Mapped[Any | None] = mapped_column(sa.JSON)
    weight: Mapped[int] = mapped_column(sa.Integer, default=100)
    validation_minimum: Mapped[int | None] = mapped_column(sa.BigInteger)
    validation_maximum: Mapped[int | None] = mapped_column(sa.BigInteger)
    validation_regex: Mapped[str] = mapped_column(sa.String(500), default="")
    advanced_ui: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    content_type_labels: Mapped[list[str]] = mapped_column(sa.JSON, default=_empty_labels)

    choices: Mapped[RelatedObjects[CustomFieldChoice]] = relationship(
        back_populates="field", cascade="all, delete-orphan", passive_deletes=True,
        order_by=lambda: (CustomFieldChoice.weight, CustomFieldChoice.value),
    )

    def __str__(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()

    @property
    def content_types(self) -> ContentTypeSet:
        """The models this field applies to: ``cf.content_types.add(ContentType.objects.get_for_model(Site))``."""
        return ContentTypeSet(self)

    def clean(self) -> None:
        if self.type not in TYPES:
            raise ValidationError(f"CustomField: type {self.type!r} is not one of {', '.join(TYPES)}")
        if self.validation_regex:
            try:
                re.compile(self.validation_regex)
            except re.error as exc:
                raise ValidationError(f"CustomField: validation_regex is not a valid regular expression ({exc})")
        if self.default is not None and self.type not in ("select", "multi-select"):  # choices come after the field
            try:
                self.validate(self.default)
            except ValidationError as exc:
                raise ValidationError(f"Invalid default value \"{self.default}\": {exc}") from None

    def choice_values(self) -> list[str]:
        return [choice.value for choice in self.choices]

    def validate(self, value: Any) -> Any:
        """Check ``value`` against the field's type and rules; returns it cleaned (an integer as int).

        Raises ValidationError with Nautobot's message for the broken rule.
        """
        if value in (None, "", []):
            if self.required:
                raise ValidationError("Required field cannot be empty.")
            return value
        if self.type in ("text", "url"):
            if not isinstance(value, str):
                raise ValidationError("Value must be a string")
            if self.validation_regex and not re.search(self.validation_regex, value):
                raise ValidationError(f"Value must match regex '{self.validation_regex}'")
        elif self.type == "integer":
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise ValidationError("Value must be an integer.") from None
            if self.validation_minimum is not None and value < self.validation_minimum:
                raise ValidationError(f"Value must be at least {self.validation_minimum}")
            if self.validation_maximum is not None and value > self.validation_maximum:
                raise ValidationError(f"Value must not exceed {self.validation_maximum}")
        elif self.type == "boolean":
            try:
                value = parse_flag(value)
            except ValueError:
                raise ValidationError("Value must be true or false.") from None
        elif self.type == "date":
            if isinstance(value, dt.date):
                value = value.isoformat()
            try:
                dt.datetime.strptime(str(value), "%Y-%m-%d")
            except ValueError:
                raise ValidationError("Date values must be in the format YYYY-MM-DD.") from None
        elif self.type == "select":
            if value not in self.choice_values():
                raise ValidationError(
                    f"Invalid choice ({value}). Available choices are: {', '.join(self.choice_values())}"
                )
        elif self.type == "multi-select":
            if isinstance(value, str):
                value = value.split(",")
            if not set(value) <= set(self.choice_values()):
                raise ValidationError(
                    f"Invalid choice(s) ({value}). Available choices are: {', '.join(self.choice_values())}"
                )
        elif self.type == "json":
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                raise ValidationError("Value must be JSON data (text, numbers, lists, objects).") from None
        return value


class CustomFieldChoice(Base):
    """One allowed value of a select or multi-select custom field."""

    __tablename__ = "custom_field_choice"
    __table_args__ = (sa.UniqueConstraint("field_id", "value"),)
    _meta_label = "extras.customfieldchoice"
    _url_plural = "custom-field-choices"
    _ordering = ("field", "weight", "value")

    field_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("custom_field.id", ondelete="CASCADE"), index=True)
    value: Mapped[str] = mapped_column(sa.String(100))
    weight: Mapped[int] = mapped_column(sa.Integer, default=100)

    field: Mapped[CustomField] = relationship(back_populates="choices")

    def __str__(self) -> str:
        return self.value

    def clean(self) -> None:
        if self.field is not None and self.field.type not in ("select", "multi-select"):
            raise ValidationError("Custom field choices can only be assigned to selection fields.")


_CACHE_KEY = "jobruntime.custom_fields"
_FIELD_MODELS = (CustomField, CustomFieldChoice)
# Whether any custom field exists: asked along with a new object's uniqueness check (see ``fields_read``).
_ANY_FIELD = sa.exists().select_from(CustomField.__table__)


def custom_fields_for(session: Session, label: str) -> dict[str, CustomField]:
    """The custom fields that apply to the model labelled ``label``, by name.

    Every new object's ``save()`` needs them, so they are read once per transaction
    and kept in ``session.info``; writing a custom field or a choice, or changing
    its content types, forgets them (:func:`forget_custom_fields`).
    """
    cached = _cached_fields(session)
    if cached is None:
        cached = session.scalars(sa.select(CustomField)).all()
        _keep_fields(session, cached)
    return {field.name: field for field in cached if label in (field.content_type_labels or [])}


def _cached_fields(session: Session) -> Sequence[CustomField] | None:
    """The fields read earlier in the session's current transaction, or None."""
    cached = session.info.get(_CACHE_KEY)
    if cached is None or cached[0] is not session.get_transaction():
        return None
    return cached[1]


def _keep_fields(session: Session, fields: Sequence[CustomField]) -> None:
    session.info[_CACHE_KEY] = (session.get_transaction(), fields)


def fields_read(session: Session) -> ValidationRead | None:
    """The question "is there any custom field?", for ``validated_save()`` to ask with its uniqueness check.

    Most databases define none: then the answer (no) is kept as this transaction's fields and
    :func:`custom_fields_for` makes no query of its own. None when there is nothing to ask:
    the fields are already known, or the session holds a custom field or choice not flushed
    yet (validation reads without flushing, so the answer could be stale).
    """
    if _cached_fields(session) is not None:
        return None
    if any(isinstance(obj, _FIELD_MODELS) for pending in (session.new, session.dirty, session.deleted) for obj in pending):
        return None
    return ValidationRead(_ANY_FIELD, _answered)


def _answered(session: Session, any_field: bool) -> None:
    if not any_field:
        _keep_fields(session, ())


def forget_custom_fields(obj: Any) -> None:
    """Make the next :func:`custom_fields_for` in ``obj``'s session read the fields again."""
    session = object_session(obj)
    if session is not None:
        session.info.pop(_CACHE_KEY, None)


@sa.event.listens_for(CustomField, "after_insert")
@sa.event.listens_for(CustomField, "after_update")
@sa.event.listens_for(CustomField, "after_delete")
@sa.event.listens_for(CustomFieldChoice, "after_insert")
@sa.event.listens_for(CustomFieldChoice, "after_update")
@sa.event.listens_for(CustomFieldChoice, "after_delete")
def _fields_written(mapper: Any, connection: sa.Connection, target: Any) -> None:
    forget_custom_fields(target)


class CustomFieldModel:
    """Mixin of every inventory model: the ``_custom_field_data`` column, its accessors and its rules."""

    _settable_private: ClassVar[frozenset[str]] = frozenset({_DATA_COLUMN})

    # No Python-side default: rows written by plain SQL (older schemas, migrations) get the server's '{}',
    # and a new object gets its own empty dict from __init__.
    _custom_field_data: Mapped[dict[str, Any]] = mapped_column(MutableDict.as_mutable(sa.JSON), server_default="{}")

    def __init__(self, **fields: Any) -> None:
        fields.setdefault(_DATA_COLUMN, {})
        super().__init__(**fields)

    @property
    def cf(self) -> dict[str, Any]:
        """The custom field values by field name; changes are saved with the object."""
        return self._custom_field_data

    @property
    def custom_field_data(self) -> dict[str, Any]:
        return self._custom_field_data

    def get_custom_fields(self) -> dict[CustomField, Any]:
        """``{CustomField: value}`` for every field of this object's model."""
        fields = custom_fields_for(session_for(self), self._meta_label)  # type: ignore[attr-defined]
        return {field: self._custom_field_data.get(name) for name, field in fields.items()}

    def clean_custom_fields(self, session: Session) -> None:
        """Nautobot's rules: only known fields, each value valid, defaults filled in, required ones present."""
        fields = custom_fields_for(session, self._meta_label)  # type: ignore[attr-defined]
        data = self._custom_field_data
        for name, value in list(data.items()):
            if name not in fields:
                raise ValidationError(f"Unknown field name '{name}' in custom field data.")
            try:
                cleaned = fields[name].validate(value)
            except ValidationError as exc:
                raise ValidationError(f"Invalid value for custom field '{name}': {exc}") from None
            if cleaned != value:
                data[name] = cleaned
        self._fill_defaults(fields)
        for name, field in fields.items():
            if field.required and name not in data:
                raise ValidationError(f"Missing required custom field '{name}'.")

    def fill_custom_field_defaults(self, session: Session) -> None:
        """Give a new object the default of every field it has no value for, as Nautobot does on creation."""
        self._fill_defaults(custom_fields_for(session, self._meta_label))  # type: ignore[attr-defined]

    def _fill_defaults(self, fields: dict[str, CustomField]) -> None:
        for name, field in fields.items():
            if name not in self._custom_field_data and field.default is not None:
                self._custom_field_data[name] = field.default


def custom_field_column(model: type, parts: list[str]) -> tuple[sa.ColumnElement[Any], list[str]] | None:
    """For ``cf_<name>__<lookup>`` or ``_custom_field_data__<name>__<lookup>``: the JSON value and the lookup.

    None when the path names no custom field value.
    """
    if parts[0].startswith("cf_") and len(parts[0]) > 3:
        name, rest = parts[0][3:], parts[1:]
    elif parts[0] == _DATA_COLUMN and len(parts) > 1:
        name, rest = parts[1], parts[2:]
    else:
        return None
    return getattr(model, _DATA_COLUMN)[name], rest


def typed(element: Any, value: Any) -> sa.ColumnElement[Any]:
    """The JSON element read as the type of the value it is compared with (text for patterns and nulls)."""
    sample = value[0] if isinstance(value, (list, tuple, set)) and value else value
    if isinstance(sample, bool):
        return element.as_boolean()
    if isinstance(sample, int):
        return element.as_integer()
    if isinstance(sample, float):
        return element.as_float()
    return element.as_string()


__all__ = ["CustomField", "CustomFieldChoice", "CustomFieldModel", "custom_fields_for", "forget_custom_fields"]
