"""Devices, their types and roles, and the components (interfaces, ports) that belong to them."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column, relationship

from jobruntime.models.base import Base
from jobruntime.models.errors import ValidationError
from jobruntime.models.organization import Site, Status, Tenant

if TYPE_CHECKING:
    from jobruntime.models.cabling import Cable
    from jobruntime.models.ipam import IPAddress


class Manufacturer(Base):
    """The vendor of device types and platforms."""

    __tablename__ = "manufacturer"
    _meta_label = "dcim.manufacturer"
    _url_plural = "manufacturers"
    _ordering = ("name",)
    _slug_source = "name"

    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    description: Mapped[str] = mapped_column(sa.String(200), default="")

    device_types: Mapped[list[DeviceType]] = relationship(back_populates="manufacturer", passive_deletes="all")
    platforms: Mapped[list[Platform]] = relationship(back_populates="manufacturer", passive_deletes=True)


class DeviceType(Base):
    """A hardware model (e.g. Cisco ISR4331) that devices are instances of."""

    __tablename__ = "device_type"
    __table_args__ = (
        sa.UniqueConstraint("manufacturer_id", "model"),
        sa.UniqueConstraint("manufacturer_id", "slug"),
    )
    _meta_label = "dcim.devicetype"
    _url_plural = "device-types"
    _ordering = ("manufacturer", "model")
    _slug_source = "model"

    manufacturer_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("manufacturer.id", ondelete="RESTRICT"))
    model: Mapped[str] = mapped_column(sa.String(100))
    slug: Mapped[str] = mapped_column(sa.String(100))
    part_number: Mapped[str] = mapped_column(sa.String(50), default="")
    u_height: Mapped[int] = mapped_column(sa.Integer, default=1)
    is_full_depth: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    comments: Mapped[str] = mapped_column(sa.Text, default="")

    manufacturer: Mapped[Manufacturer] = relationship(back_populates="device_types")
    instances: Mapped[list[Device]] = relationship(back_populates="device_type", passive_deletes="all")

    def __str__(self) -> str:
        return self.model or super().__str__()

    @property
    def display(self) -> str:
        """Manufacturer and model, as shown in lists."""
        return f"{self.manufacturer} {self.model}" if self.manufacturer else self.model

    def clean(self) -> None:
        """Rack units cannot be negative."""
        if self.u_height is not None and self.u_height < 0:
            raise ValidationError(f"DeviceType: u_height {self.u_height} cannot be negative")


class DeviceRole(Base):
    """The function a device serves (router, access switch, ...)."""

    __tablename__ = "device_role"
    _meta_label = "dcim.devicerole"
    _url_plural = "device-roles"
    _ordering = ("name",)
    _slug_source = "name"

    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    color: Mapped[str] = mapped_column(sa.String(6), default="9e9e9e")
    vm_role: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    description: Mapped[str] = mapped_column(sa.String(200), default="")

    devices: Mapped[list[Device]] = relationship(back_populates="device_role", passive_deletes="all")


class Platform(Base):
    """The software a device runs, with the NAPALM driver that talks to it."""

    __tablename__ = "platform"
    _meta_label = "dcim.platform"
    _url_plural = "platforms"
    _ordering = ("name",)
    _slug_source = "name"

    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    manufacturer_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("manufacturer.id", ondelete="SET NULL"), index=True
    )
    napalm_driver: Mapped[str] = mapped_column(sa.String(50), default="")
    napalm_args: Mapped[Any | None] = mapped_column(sa.JSON)
    description: Mapped[str] = mapped_column(sa.String(200), default="")

    manufacturer: Mapped[Manufacturer | None] = relationship(back_populates="platforms")
    devices: Mapped[list[Device]] = relationship(back_populates="platform", passive_deletes=True)


class Device(Base):
    """A piece of hardware installed at a site."""

    __tablename__ = "device"
    __table_args__ = (sa.UniqueConstraint("site_id", "name"),)
    _meta_label = "dcim.device"
    _url_plural = "devices"
    _ordering = ("name", "pk")

    name: Mapped[str | None] = mapped_column(sa.String(64))
    device_type_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("device_type.id", ondelete="RESTRICT"), index=True)
    device_role_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("device_role.id", ondelete="RESTRICT"), index=True)
    site_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("site.id", ondelete="RESTRICT"), index=True)
    status_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("status.id", ondelete="RESTRICT"), index=True)
    platform_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("platform.id", ondelete="SET NULL"), index=True)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("tenant.id", ondelete="RESTRICT"), index=True)
    serial: Mapped[str] = mapped_column(sa.String(255), default="")
    asset_tag: Mapped[str | None] = mapped_column(sa.String(100), unique=True)
    primary_ip4_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("ip_address.id", ondelete="SET NULL", use_alter=True)
    )
    primary_ip6_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("ip_address.id", ondelete="SET NULL", use_alter=True)
    )
    comments: Mapped[str] = mapped_column(sa.Text, default="")

    device_type: Mapped[DeviceType] = relationship(back_populates="instances")
    device_role: Mapped[DeviceRole] = relationship(back_populates="devices")
    site: Mapped[Site] = relationship(back_populates="devices")
    status: Mapped[Status] = relationship()
    platform: Mapped[Platform | None] = relationship(back_populates="devices")
    tenant: Mapped[Tenant | None] = relationship(back_populates="devices")
    primary_ip4: Mapped[IPAddress | None] = relationship(foreign_keys=[primary_ip4_id], post_update=True)
    primary_ip6: Mapped[IPAddress | None] = relationship(foreign_keys=[primary_ip6_id], post_update=True)
    interfaces: Mapped[list[Interface]] = relationship(
        back_populates="device", cascade="all, delete-orphan", passive_deletes=True
    )
    console_ports: Mapped[list[ConsolePort]] = relationship(
        back_populates="device", cascade="all, delete-orphan", passive_deletes=True
    )
    console_server_ports: Mapped[list[ConsoleServerPort]] = relationship(
        back_populates="device", cascade="all, delete-orphan", passive_deletes=True
    )
    power_ports: Mapped[list[PowerPort]] = relationship(
        back_populates="device", cascade="all, delete-orphan", passive_deletes=True
    )
    power_outlets: Mapped[list[PowerOutlet]] = relationship(
        back_populates="device", cascade="all, delete-orphan", passive_deletes=True
    )

    def __str__(self) -> str:
        if self.name:
            return self.name
        return f"{self.device_type} ({self.id})" if self.device_type else f"Device {self.id}"

    @property
    def primary_ip(self) -> IPAddress | None:
        """The primary address used to reach the device, IPv4 first."""
        return self.primary_ip4 or self.primary_ip6

    def clean(self) -> None:
        """Primary IPs must have the right family and belong to this device; platforms must match its vendor."""
        for field, family in (("primary_ip4", 4), ("primary_ip6", 6)):
            ip = getattr(self, field)
            if ip is None:
                continue
            if ip.family != family:
                raise ValidationError(f"Device: {field} {ip} is not an IPv{family} address")
            if ip.interface is None or ip.interface.device is not self:
                raise ValidationError(f"Device: {field} {ip} is not assigned to an interface of {self}")
        platform_vendor = self.platform.manufacturer if self.platform else None
        if platform_vendor is not None and self.device_type is not None:
            if platform_vendor is not self.device_type.manufacturer:
                raise ValidationError(
                    f"Device: platform {self.platform} is for {platform_vendor} devices, "
                    f"not {self.device_type.manufacturer}"
                )

    def _before_delete(self, session: Session) -> None:
        from jobruntime.models.cabling import terminations_with_cables

        for port in terminations_with_cables(session, device_id=self.id):
            port._before_delete(session)
