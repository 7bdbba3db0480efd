"""Tags: labels any inventory object can carry, as ``obj.tags.add()`` / ``remove()`` / ``all()``.

One ``tagged_item`` row links a tag to an object of any model (its content type
label and pk), as django-taggit's generic tagged items do in Nautobot, so a new
taggable model needs no table of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from jobruntime.models.base import Base, Manager, session_for
from jobruntime.models.content_type_set import ContentTypeSet, ForModelQuerySet
from jobruntime.models.query import QuerySet


def _empty_labels() -> list[str]:
    return []


class Tag(Base):
    """A label with a colour; ``content_types`` lists the models it is meant for."""

    objects: ClassVar[Manager[Any]] = Manager(ForModelQuerySet)

    __tablename__ = "tag"
    _meta_label = "extras.tag"
    _url_plural = "tags"
    _ordering = ("name",)
    _slug_source = "name"

    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    color: Mapped[str] = mapped_column(sa.String(6), default="9e9e9e")
    description: Mapped[str] = mapped_column(sa.String(200), default="")
    content_type_labels: Mapped[list[str]] = mapped_column(sa.JSON, default=_empty_labels)

    @property
    def content_types(self) -> ContentTypeSet:
        return ContentTypeSet(self)


class TaggedItem(Base):
    """Tag ``tag`` is on the object of model ``content_type`` (a label such as ``dcim.site``) with pk ``object_id``."""

    __tablename__ = "tagged_item"
    __table_args__ = (
        sa.UniqueConstraint("tag_id", "content_type", "object_id"),
        sa.Index(None, "content_type", "object_id"),
    )
    _meta_label = "extras.taggeditem"

    tag_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tag.id", ondelete="CASCADE"), index=True)
    content_type: Mapped[str] = mapped_column(sa.String(100))
    object_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)


def tagged_ids(label: str, tag_condition: sa.ColumnElement[bool] | None = None) -> sa.Select[Any]:
    """Pks of the ``label`` objects carrying a tag (one matching ``tag_condition``, when given)."""
    stmt = sa.select(TaggedItem.object_id).where(TaggedItem.content_type == label)
    if tag_condition is not None:
        stmt = stmt.where(TaggedItem.tag_id.in_(sa.select(Tag.id).where(tag_condition)))
    return stmt


class TagManager:
    """``obj.tags``: django-taggit's manager calls on one saved object."""

    def __init__(self, owner: Base) -> None:
        if sa.inspect(owner).key is None:
            raise ValueError(
                f"{type(owner).__name__} objects need to have a primary key value before you can access their tags."
            )
        self.owner = owner
        self.label = type(owner)._meta_label

    def _items(self) -> sa.Select[Any]:
        return sa.select(TaggedItem.tag_id).where(
            TaggedItem.content_type == self.label, TaggedItem.object_id == self.owner.id
        )

    def all(self) -> QuerySet[Tag]:
        return Tag.objects.filter(Tag.id.in_(self._items()))

    def filter(self, *conditions: Any, **lookups: Any) -> QuerySet[Tag]:
        return self.all().filter(*conditions, **lookups)

    def count(self) -> int:
        return self.all().count()

    def exists(self) -> bool:
        return self.all().exists()

    def names(self) -> list[str]:
        return list(self.all().values_list("name", flat=True))

    def slugs(self) -> list[str]:
        return list(self.all().values_list("slug", flat=True))

    def __iter__(self) -> Iterator[Tag]:
        return iter(self.all())

    def _tags(self, tags: Iterable[Tag | str]) -> list[Tag]:
        """Tags as given; a name that is no tag yet becomes one, as django-taggit does."""
        found = []
        for tag in tags:
            if isinstance(tag, str):
                tag, _created = Tag.objects.get_or_create(name=tag)
            elif not isinstance(tag, Tag):
                raise TypeError(f"tags are Tag objects or names, not {tag!r}")
            found.append(tag)
        return found

    def add(self, *tags: Tag | str) -> None:
        session = session_for(self.owner)
        present = set(session.scalars(self._items()))
        for tag in self._tags(tags):
            if tag.id not in present:
                session.add(TaggedItem(tag_id=tag.id, content_type=self.label, object_id=self.owner.id))
                present.add(tag.id)
        session.flush()

    def remove(self, *tags: Tag | str) -> None:
        ids = [tag.id for tag in self._tags(tags)]
        session = session_for(self.owner)
        session.execute(
            sa.delete(TaggedItem).where(
                TaggedItem.content_type == self.label, TaggedItem.object_id == self.owner.id, TaggedItem.tag_id.in_(ids)
            )
        )

    def clear(self) -> None:
        session = session_for(self.owner)
        session.execute(
            sa.delete(TaggedItem).where(TaggedItem.content_type == self.label, TaggedItem.object_id == self.owner.id)
        )

    def set(self, *tags: Any, clear: bool = False) -> None:
        """Make these the object's tags; takes a list (django-taggit 2+) or the tags as arguments (1.x)."""
        wanted = self._tags(tags[0] if len(tags) == 1 and isinstance(tags[0], (list, tuple, set)) else tags)
        wanted_ids = {tag.id for tag in wanted}
        session = session_for(self.owner)
        stale = session.scalars(self._items()).all()
        if clear:
            self.clear()
        else:
            session.execute(
                sa.delete(TaggedItem).where(
                    TaggedItem.content_type == self.label,
                    TaggedItem.object_id == self.owner.id,
                    TaggedItem.tag_id.in_([tag_id for tag_id in stale if tag_id not in wanted_ids]),
                )
            )
        self.add(*wanted)


class TaggedModel:
    """Mixin of every inventory model: ``obj.tags``, and its rows removed with the object."""

    @property
    def tags(self) -> TagManager:
        return TagManager(self)  # type: ignore[arg-type]


@sa.event.listens_for(TaggedModel, "after_delete", propagate=True)
def _forget_tags(mapper: Any, connection: sa.Connection, target: Any) -> None:
    connection.execute(
        sa.delete(TaggedItem).where(TaggedItem.content_type == target._meta_label, TaggedItem.object_id == target.id)
    )


__all__ = ["Tag", "TagManager", "TaggedItem", "TaggedModel", "tagged_ids"]
