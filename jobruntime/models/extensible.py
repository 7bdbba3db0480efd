"""What every inventory model has beyond its own fields, as Nautobot's primary models do: custom fields and tags."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from jobruntime.models.base import ValidationRead, session_for
from jobruntime.models.custom_fields import CustomFieldModel, custom_field_column, fields_read, typed
from jobruntime.models.errors import FieldError
from jobruntime.models.tags import Tag, TaggedModel, tagged_ids


class Extensible(CustomFieldModel, TaggedModel):
    """Mixin: ``obj.cf`` / ``obj.tags``, their validation, and the lookups ``cf_<name>`` and ``tags__...``."""

    def full_clean(self) -> None:
        super().full_clean()  # type: ignore[misc]
        self.clean_custom_fields(session_for(self))  # type: ignore[arg-type]

    def _validation_reads(self, session: Session) -> tuple[ValidationRead, ...]:
        """Whether any custom field exists, asked with the uniqueness check (``clean_custom_fields`` needs them)."""
        read = fields_read(session)
        return () if read is None else (read,)

    def save(self) -> None:
        """A new object gets its custom fields' defaults, even unvalidated (``objects.create()``)."""
        if sa.inspect(self).key is None:
            self.fill_custom_field_defaults(session_for(self))  # type: ignore[arg-type]
        super().save()  # type: ignore[misc]

    @classmethod
    def lookup_virtual_field(cls, parts: list[str], value: Any, path: str) -> sa.ColumnElement[bool] | None:
        """The condition for a custom field or tag lookup, or None when ``parts`` names neither."""
        from jobruntime.models.lookups import LOOKUPS, _compare_column, build_filter

        custom = custom_field_column(cls, parts)
        if custom is not None:
            element, rest = custom
            if len(rest) > 1 or (rest and rest[0] not in LOOKUPS):
                raise FieldError(f"{path!r}: a custom field value takes one lookup ({', '.join(sorted(LOOKUPS))})")
            lookup = rest[0] if rest else "exact"
            column = element.as_string() if lookup in ("isnull", "iexact") or "contains" in lookup else typed(element, value)
            return _compare_column(column, lookup, value, path)
        if parts[0] != "tags":
            return None
        rest = parts[1:]
        if not rest or rest in (["exact"], ["in"]):
            many = rest == ["in"]
            pks = [getattr(item, "pk", item) for item in value] if many else getattr(value, "pk", value)
            condition = build_filter(Tag, "id__in" if many else "id", pks)
        else:
            condition = build_filter(Tag, "__".join(rest), value)
        return cls.id.in_(tagged_ids(cls._meta_label, condition))  # type: ignore[attr-defined]


__all__ = ["Extensible"]
