"""``ContentType``: one per model, as Django names models for generic relations (tags, custom fields).

A content type here is a value, not a row: it is made from the model's label
(``dcim.site``), so ``ContentType.objects.get_for_model(Site)`` needs no
database and always answers the same for the same model.
"""

from __future__ import annotations

import re
from importlib import import_module
from typing import Any

from jobruntime.models.base import INVENTORY_MODULE, Base, model_for_label
from jobruntime.models.errors import ObjectDoesNotExist


def _verbose_name(model: type[Base]) -> str:
    """``DeviceType`` → ``device type``, as Django derives a model's verbose name."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", model.__name__).lower()


class ContentType:
    """A model named by ``app_label`` and ``model`` (lower-case class name); ``str()`` is ``"dcim | site"``."""

    class DoesNotExist(ObjectDoesNotExist):
        """No content type answers the lookups."""

    def __init__(self, app_label: str, model: str) -> None:
        self.app_label = app_label
        self.model = model

    @property
    def label(self) -> str:
        return f"{self.app_label}.{self.model}"

    @property
    def pk(self) -> str:
        return self.label

    id = pk

    @property
    def name(self) -> str:
        return _verbose_name(self.model_class())

    def model_class(self) -> type[Base]:
        return model_for_label(self.label)

    def get_object_for_this_type(self, **lookups: Any) -> Any:
        return self.model_class().objects.get(**lookups)

    def natural_key(self) -> tuple[str, str]:
        return self.app_label, self.model

    def __str__(self) -> str:
        return f"{self.app_label} | {self.name}"

    def __repr__(self) -> str:
        return f"<ContentType: {self}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ContentType) and self.label == other.label

    def __hash__(self) -> int:
        return hash(self.label)


class ContentTypeManager:
    """``ContentType.objects``: the content types of every model, found by model, label or lookups."""

    def all(self) -> list[ContentType]:
        import_module(INVENTORY_MODULE)
        labels = sorted(m.class_._meta_label for m in Base.registry.mappers if m.class_._meta_label)
        return [ContentType(*label.split(".", 1)) for label in labels]

    def get_for_model(self, model: type[Base] | Base, for_concrete_model: bool = True) -> ContentType:
        """The content type of a model class or of an instance's class."""
        label = model._meta_label
        if not label:
            raise LookupError(f"{model!r} is not a model jobruntime keeps")
        return ContentType(*label.split(".", 1))

    def get_for_models(self, *models: type[Base]) -> dict[type[Base], ContentType]:
        return {model: self.get_for_model(model) for model in models}

    def get_by_natural_key(self, app_label: str, model: str) -> ContentType:
        return self.get(app_label=app_label, model=model)

    def filter(self, **lookups: Any) -> list[ContentType]:
        """Content types whose attributes equal the lookups; ``<field>__in`` takes a list."""
        def matches(content_type: ContentType) -> bool:
            for key, wanted in lookups.items():
                field, _, operator = key.partition("__")
                value = getattr(content_type, "label" if field in ("pk", "id") else field)
                if operator == "in" and value not in wanted:
                    return False
                if not operator and value != wanted:
                    return False
                if operator not in ("", "in"):
                    raise ValueError(f"ContentType lookups take a field or field__in, not {key!r}")
            return True

        return [content_type for content_type in self.all() if matches(content_type)]

    def get(self, **lookups: Any) -> ContentType:
        found = self.filter(**lookups)
        if len(found) != 1:
            raise ContentType.DoesNotExist(f"No ContentType matches {lookups} (there are {len(found)})")
        return found[0]


ContentType.objects = ContentTypeManager()  # type: ignore[attr-defined]

__all__ = ["ContentType"]
