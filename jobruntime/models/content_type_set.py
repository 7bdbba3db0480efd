"""The ``content_types`` of a custom field or tag: which models it applies to, kept as a list of labels."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from jobruntime.models.contenttypes import ContentType
from jobruntime.models.query import QuerySet


class ContentTypeSet:
    """Django's many-to-many manager calls (``add``, ``remove``, ``set``, ``clear``, ``all``) over a label list.

    The owner's ``content_type_labels`` column holds the labels (``["dcim.site"]``);
    changes are made by assigning a new list, so the ORM sees them and the
    owner's next ``save()`` stores them.
    """

    def __init__(self, owner: Any) -> None:
        self.owner = owner

    def _labels(self) -> list[str]:
        return list(self.owner.content_type_labels or [])

    def _store(self, labels: Iterable[str]) -> None:
        """Assign a new list, and forget cached custom fields: Django's M2M changes count at once."""
        from jobruntime.models.custom_fields import forget_custom_fields

        self.owner.content_type_labels = sorted(set(labels))
        forget_custom_fields(self.owner)

    def add(self, *content_types: ContentType) -> None:
        self._store(self._labels() + [_label(content_type) for content_type in content_types])

    def remove(self, *content_types: ContentType) -> None:
        removed = {_label(content_type) for content_type in content_types}
        self._store(label for label in self._labels() if label not in removed)

    def set(self, content_types: Iterable[ContentType]) -> None:
        self._store(_label(content_type) for content_type in content_types)

    def clear(self) -> None:
        self._store([])

    def all(self) -> list[ContentType]:
        return [ContentType(*label.split(".", 1)) for label in self._labels()]

    def filter(self, **lookups: Any) -> list[ContentType]:
        wanted = set(ContentType.objects.filter(**lookups))
        return [content_type for content_type in self.all() if content_type in wanted]

    def count(self) -> int:
        return len(self._labels())

    def exists(self) -> bool:
        return bool(self._labels())

    def __iter__(self) -> Iterator[ContentType]:
        return iter(self.all())

    def __contains__(self, content_type: object) -> bool:
        return isinstance(content_type, ContentType) and content_type.label in self._labels()


def _label(content_type: Any) -> str:
    """A ContentType, or a model class, as its label; anything else is refused with what was expected."""
    if isinstance(content_type, ContentType):
        return content_type.label
    label = getattr(content_type, "_meta_label", "")
    if label:
        return label
    raise TypeError(f"expected a ContentType (ContentType.objects.get_for_model(Model)), got {content_type!r}")


class ForModelQuerySet(QuerySet[Any]):
    """The QuerySet of a model with ``content_types`` (custom fields, tags): adds Nautobot's ``get_for_model``."""

    def get_for_model(self, model: Any) -> ForModelQuerySet:
        """The rows whose content types include ``model`` (a model class or instance)."""
        label = model._meta_label
        return self.filter(pk__in=[row.pk for row in self if label in (row.content_type_labels or [])])
