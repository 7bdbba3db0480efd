"""Organizational models: where things are (regions, sites), who owns them (tenants) and their status."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jobruntime.models.base import Base, Manager
from jobruntime.models.errors import ValidationError
from jobruntime.models.extensible import Extensible
from jobruntime.models.natural import NaturallyOrdered
from jobruntime.models.query import QuerySet
from jobruntime.models.related import RelatedObjects

if TYPE_CHECKING:
    from jobruntime.models.dcim import Device
    from jobruntime.models.ipam import VLAN, IPAddress, Prefix


class StatusQuerySet(QuerySet["Status"]):
    def get_for_model(self, model: type | object) -> StatusQuerySet:
        """The statuses a model's objects may take: all of them, as statuses here are not limited by model.

        Nautobot 1.x jobs start from ``Status.objects.get_for_model(Device).get(slug="active")``.
        """
        return self.all()


class Status(Base):
    """A lifecycle state (Active, Planned, Connected, ...) shared by all status-bearing models."""

    objects: ClassVar[Manager[Any]] = Manager(StatusQuerySet)

    __tablename__ = "status"
    _meta_label = "extras.status"
    _url_plural = "statuses"
    _ordering = ("name",)
    _slug_source = "name"

    name: Mapped[str] = mapped_column(sa.String(50), unique=True)
    slug: Mapped[str] = mapped_column(sa.String(50), unique=True)
    color: Mapped[str] = mapped_column(sa.String(6), default="9e9e9e")
    description: Mapped[str] = mapped_column(sa.String(200), default="")


def status_column() -> Mapped[uuid.UUID | None]:
    """Nautobot 1.x's StatusField: NULL is allowed in the database (``objects.create()`` may leave it out),
    while ``validated_save()`` requires a status."""
    return mapped_column(
        sa.ForeignKey("status.id", ondelete="RESTRICT"), index=True, nullable=True, info={"required": True}
    )


class _Nested:
    """A model whose ``parent`` is one of its kind: following parents must come to an end."""

    def clean(self) -> None:
        seen = {self.id}
        ancestor = self.parent
        while ancestor is not None:
            if ancestor.id in seen:
                kind = type(self).__name__
                raise ValidationError(
                    f"{kind}: {self} cannot have {self.parent} as parent: {self.parent} is {self} or inside it"
                )
            seen.add(ancestor.id)
            ancestor = ancestor.parent


class Region(_Nested, Extensible, Base):
    """A geographic grouping of sites; regions nest."""

    __tablename__ = "region"
    _meta_label = "dcim.region"
    _url_plural = "regions"
    _ordering = ("name",)
    _slug_source = "name"

    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("region.id", ondelete="CASCADE"), index=True)
    description: Mapped[str] = mapped_column(sa.String(200), default="")

    parent: Mapped[Region | None] = relationship(back_populates="children", remote_side="Region.id")
    children: Mapped[RelatedObjects[Region]] = relationship(
        back_populates="parent", cascade="all, delete-orphan", passive_deletes=True
    )
    sites: Mapped[RelatedObjects[Site]] = relationship(back_populates="region", passive_deletes=True)


class TenantGroup(_Nested, Extensible, Base):
    """A nestable grouping of tenants."""

    __tablename__ = "tenant_group"
    _meta_label = "tenancy.tenantgroup"
    _url_plural = "tenant-groups"
    _ordering = ("name",)
    _slug_source = "name"

    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("tenant_group.id", ondelete="CASCADE"), index=True
    )
    description: Mapped[str] = mapped_column(sa.String(200), default="")

    parent: Mapped[TenantGroup | None] = relationship(back_populates="children", remote_side="TenantGroup.id")
    children: Mapped[RelatedObjects[TenantGroup]] = relationship(
        back_populates="parent", cascade="all, delete-orphan", passive_deletes=True
    )
    tenants: Mapped[RelatedObjects[Tenant]] = relationship(back_populates="group", passive_deletes=True)


class Tenant(Extensible, Base):
    """The customer or department that owns objects."""

    __tablename__ = "tenant"
    _meta_label = "tenancy.tenant"
    _url_plural = "tenants"
    _ordering = ("name",)
    _slug_source = "name"

    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    group_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("tenant_group.id", ondelete="SET NULL"), index=True
    )
    description: Mapped[str] = mapped_column(sa.String(200), default="")
    comments: Mapped[str] = mapped_column(sa.Text, default="")

    group: Mapped[TenantGroup | None] = relationship(back_populates="tenants")
    sites: Mapped[RelatedObjects[Site]] = relationship(back_populates="tenant", passive_deletes="all")
    devices: Mapped[RelatedObjects[Device]] = relationship(back_populates="tenant", passive_deletes="all")
    prefixes: Mapped[RelatedObjects[Prefix]] = relationship(back_populates="tenant", passive_deletes="all")
    ip_addresses: Mapped[RelatedObjects[IPAddress]] = relationship(back_populates="tenant", passive_deletes="all")
    vlans: Mapped[RelatedObjects[VLAN]] = relationship(back_populates="tenant", passive_deletes="all")


class Site(NaturallyOrdered, Extensible, Base):
    """A physical location (building, campus, PoP) that holds devices."""

    __tablename__ = "site"
    _meta_label = "dcim.site"
    _url_plural = "sites"
    _ordering = ("_name",)
    _slug_source = "name"

    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    status_id: Mapped[uuid.UUID | None] = status_column()
    region_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("region.id", ondelete="SET NULL"), index=True)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("tenant.id", ondelete="RESTRICT"), index=True)
    facility: Mapped[str] = mapped_column(sa.String(50), default="")
    asn: Mapped[int | None] = mapped_column(sa.BigInteger)
    time_zone: Mapped[str | None] = mapped_column(sa.String(63))
    description: Mapped[str] = mapped_column(sa.String(200), default="")
    physical_address: Mapped[str] = mapped_column(sa.String(200), default="")
    shipping_address: Mapped[str] = mapped_column(sa.String(200), default="")
    latitude: Mapped[float | None] = mapped_column(sa.Float)
    longitude: Mapped[float | None] = mapped_column(sa.Float)
    contact_name: Mapped[str] = mapped_column(sa.String(50), default="")
    contact_phone: Mapped[str] = mapped_column(sa.String(20), default="")
    contact_email: Mapped[str] = mapped_column(sa.String(254), default="")
    comments: Mapped[str] = mapped_column(sa.Text, default="")

    status: Mapped[Status | None] = relationship()
    region: Mapped[Region | None] = relationship(back_populates="sites")
    tenant: Mapped[Tenant | None] = relationship(back_populates="sites")
    devices: Mapped[RelatedObjects[Device]] = relationship(back_populates="site", passive_deletes="all")
    prefixes: Mapped[RelatedObjects[Prefix]] = relationship(back_populates="site", passive_deletes=True)
    vlans: Mapped[RelatedObjects[VLAN]] = relationship(back_populates="site", passive_deletes=True)

    def clean(self) -> None:
        """ASNs are 32-bit unsigned (RFC 6793); coordinates must be on the globe."""
        if self.asn is not None and not 1 <= self.asn <= 4294967295:
            raise ValidationError(f"Site: asn {self.asn} is outside 1-4294967295")
        if self.latitude is not None and not -90 <= self.latitude <= 90:
            raise ValidationError(f"Site: latitude {self.latitude} is outside -90..90")
        if self.longitude is not None and not -180 <= self.longitude <= 180:
            raise ValidationError(f"Site: longitude {self.longitude} is outside -180..180")
