"""Devices, their types and roles, and the components (interfaces, ports) that belong to them."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column, relationship

from jobruntime.models.base import Base, session_for, unique_where_null
from jobruntime.models.cabling import (
    CableTermination,
    check_compatible,
    describe_termination,
    termination_model,
    terminations_with_cables,
)
from jobruntime.models.errors import ValidationError
from jobruntime.models.extensible import Extensible
from jobruntime.models.natural import NaturallyOrdered, naturalize_interface
from jobruntime.models.organization import Site, Status, Tenant, status_column
from jobruntime.models.related import RelatedObjects

if TYPE_CHECKING:
    from jobruntime.models.ipam import IPAddress


class Manufacturer(Extensible, Base):
    """The vendor of device types and platforms."""

    __tablename__ = "manufacturer"
    _meta_label = "dcim.manufacturer"
    _url_plural = "manufacturers"
    _ordering = ("name",)
    _slug_source = "name"

    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    description: Mapped[str] = mapped_column(sa.String(200), default="")

    device_types: Mapped[RelatedObjects[DeviceType]] = relationship(back_populates="manufacturer", passive_deletes="all")
    platforms: Mapped[RelatedObjects[Platform]] = relationship(back_populates="manufacturer", passive_deletes=True)


class DeviceType(Extensible, Base):
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
    instances: Mapped[RelatedObjects[Device]] = relationship(back_populates="device_type", passive_deletes="all")

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


class DeviceRole(Extensible, Base):
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

    devices: Mapped[RelatedObjects[Device]] = relationship(back_populates="device_role", passive_deletes="all")


class Platform(Extensible, Base):
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
    devices: Mapped[RelatedObjects[Device]] = relationship(back_populates="platform", passive_deletes=True)


class Device(NaturallyOrdered, Extensible, Base):
    """A piece of hardware installed at a site."""

    __tablename__ = "device"
    __table_args__ = (
        sa.UniqueConstraint("site_id", "tenant_id", "name"),
        unique_where_null("site_id", "name", null="tenant_id"),
    )
    _meta_label = "dcim.device"
    _url_plural = "devices"
    _ordering = ("_name", "pk")

    name: Mapped[str | None] = mapped_column(sa.String(64))
    device_type_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("device_type.id", ondelete="RESTRICT"), index=True)
    device_role_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("device_role.id", ondelete="RESTRICT"), index=True)
    site_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("site.id", ondelete="RESTRICT"), index=True)
    status_id: Mapped[uuid.UUID | None] = status_column()
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
    status: Mapped[Status | None] = relationship()
    platform: Mapped[Platform | None] = relationship(back_populates="devices")
    tenant: Mapped[Tenant | None] = relationship(back_populates="devices")
    primary_ip4: Mapped[IPAddress | None] = relationship(foreign_keys=[primary_ip4_id], post_update=True)
    primary_ip6: Mapped[IPAddress | None] = relationship(foreign_keys=[primary_ip6_id], post_update=True)
    interfaces: Mapped[RelatedObjects[Interface]] = relationship(
        back_populates="device", cascade="all, delete-orphan", passive_deletes=True
    )
    console_ports: Mapped[RelatedObjects[ConsolePort]] = relationship(
        back_populates="device", cascade="all, delete-orphan", passive_deletes=True
    )
    console_server_ports: Mapped[RelatedObjects[ConsoleServerPort]] = relationship(
        back_populates="device", cascade="all, delete-orphan", passive_deletes=True
    )
    power_ports: Mapped[RelatedObjects[PowerPort]] = relationship(
        back_populates="device", cascade="all, delete-orphan", passive_deletes=True
    )
    power_outlets: Mapped[RelatedObjects[PowerOutlet]] = relationship(
        back_populates="device", cascade="all, delete-orphan", passive_deletes=True
    )

    def __str__(self) -> str:
        if self.name:
            return self.name
        return f"{self.device_type} ({self.id})" if self.device_type else f"Device {self.id}"

    @property
    def primary_ip(self) -> IPAddress | None:
        """The primary address used to reach the device: IPv6 first, as Nautobot's default (PREFER_IPV4 off)."""
        return self.primary_ip6 or self.primary_ip4

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
        device_vendor = self.device_type.manufacturer if self.device_type else None
        if platform_vendor is not None and device_vendor is not None and platform_vendor is not device_vendor:
            raise ValidationError(
                f"Device: platform {self.platform} is for {platform_vendor} devices, not {device_vendor}"
            )

    def _before_delete(self, session: Session) -> None:
        for port in terminations_with_cables(session, device_id=self.id):
            port._before_delete(session)


INTERFACE_MODES = ("", "access", "tagged", "tagged-all")


class DeviceComponent(NaturallyOrdered, CableTermination, Extensible):
    """Columns shared by every named, cable-able part of a device; names are unique per device."""

    _device_related_name: ClassVar[str]
    _ordering: ClassVar[tuple[str, ...]] = ("device", "_name")

    name: Mapped[str] = mapped_column(sa.String(64))
    label: Mapped[str] = mapped_column(sa.String(64), server_default="")
    description: Mapped[str] = mapped_column(sa.String(200), default="")

    @declared_attr
    def device_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(sa.ForeignKey("device.id", ondelete="CASCADE"))

    @declared_attr
    def device(cls) -> Mapped[Device]:
        return relationship(back_populates=cls._device_related_name)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (sa.UniqueConstraint("device_id", "name"),)

    def __str__(self) -> str:
        return self.name or super().__str__()


class Interface(DeviceComponent, Base):
    """A network interface; IP addresses are assigned to interfaces."""

    __tablename__ = "interface"
    _meta_label = "dcim.interface"
    _url_plural = "interfaces"
    _device_related_name = "interfaces"
    natural_key = staticmethod(naturalize_interface)

    type: Mapped[str] = mapped_column(sa.String(50), default="virtual")
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    mgmt_only: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    mac_address: Mapped[str | None] = mapped_column(sa.String(18))
    mtu: Mapped[int | None] = mapped_column(sa.Integer)
    # 802.1Q mode ("", access, tagged, tagged-all) and status, as Nautobot 1.4+ interfaces have them;
    # the status stays optional here, so jobs written before 1.4 keep working.
    mode: Mapped[str] = mapped_column(sa.String(50), server_default="")
    status_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("status.id", ondelete="RESTRICT"), index=True)

    status: Mapped[Status | None] = relationship()
    ip_addresses: Mapped[RelatedObjects[IPAddress]] = relationship(
        back_populates="interface", cascade="delete", passive_deletes=True
    )

    def clean(self) -> None:
        """MTU must be a size an interface can have; the mode one of 802.1Q's."""
        if self.mtu is not None and not 1 <= self.mtu <= 65536:
            raise ValidationError(f"Interface: mtu {self.mtu} is outside 1-65536")
        if self.mode not in INTERFACE_MODES:
            raise ValidationError(
                f"Interface: mode {self.mode!r} is not one of {', '.join(repr(mode) for mode in INTERFACE_MODES)}"
            )


class ConsolePort(DeviceComponent, Base):
    """A console port on a device, cabled to a console server port."""

    __tablename__ = "console_port"
    _meta_label = "dcim.consoleport"
    _url_plural = "console-ports"
    _device_related_name = "console_ports"

    type: Mapped[str] = mapped_column(sa.String(50), default="")


class ConsoleServerPort(DeviceComponent, Base):
    """A port on a console server that console ports plug into."""

    __tablename__ = "console_server_port"
    _meta_label = "dcim.consoleserverport"
    _url_plural = "console-server-ports"
    _device_related_name = "console_server_ports"

    type: Mapped[str] = mapped_column(sa.String(50), default="")


class PowerPort(DeviceComponent, Base):
    """A power inlet on a device, cabled to a power outlet."""

    __tablename__ = "power_port"
    _meta_label = "dcim.powerport"
    _url_plural = "power-ports"
    _device_related_name = "power_ports"

    type: Mapped[str] = mapped_column(sa.String(50), default="")
    maximum_draw: Mapped[int | None] = mapped_column(sa.Integer)
    allocated_draw: Mapped[int | None] = mapped_column(sa.Integer)


class PowerOutlet(DeviceComponent, Base):
    """A power outlet on a PDU that power ports plug into."""

    __tablename__ = "power_outlet"
    _meta_label = "dcim.poweroutlet"
    _url_plural = "power-outlets"
    _device_related_name = "power_outlets"

    type: Mapped[str] = mapped_column(sa.String(50), default="")
    feed_leg: Mapped[str] = mapped_column(sa.String(50), default="")


class Cable(Extensible, Base):
    """A physical connection between two compatible terminations.

    Terminations are stored generically (model label + id), like Nautobot's
    generic foreign keys; ``termination_a``/``termination_b`` resolve them.
    Saving links both ends' ``cable``; deleting unlinks them.
    """

    __tablename__ = "cable"
    __table_args__ = (
        sa.UniqueConstraint("termination_a_type", "termination_a_id"),
        sa.UniqueConstraint("termination_b_type", "termination_b_id"),
    )
    _meta_label = "dcim.cable"
    _url_plural = "cables"
    _ordering = ("termination_a_type", "termination_a_id", "termination_b_type", "termination_b_id")

    termination_a_type: Mapped[str] = mapped_column(sa.String(100))
    termination_a_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    termination_b_type: Mapped[str] = mapped_column(sa.String(100))
    termination_b_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    status_id: Mapped[uuid.UUID | None] = status_column()
    type: Mapped[str] = mapped_column(sa.String(50), default="")
    label: Mapped[str] = mapped_column(sa.String(100), default="")
    color: Mapped[str] = mapped_column(sa.String(6), default="")
    length: Mapped[int | None] = mapped_column(sa.Integer)
    length_unit: Mapped[str] = mapped_column(sa.String(50), default="")

    status: Mapped[Status | None] = relationship()

    def __str__(self) -> str:
        return self.label or f"#{str(self.id)[:8]}"

    @property
    def termination_a(self) -> CableTermination | None:
        """The A end (an Interface, ConsolePort, ...), loaded on first access."""
        return self._get_termination("a")

    @termination_a.setter
    def termination_a(self, value: CableTermination | None) -> None:
        self._set_termination("a", value)

    @property
    def termination_b(self) -> CableTermination | None:
        """The B end, loaded on first access."""
        return self._get_termination("b")

    @termination_b.setter
    def termination_b(self, value: CableTermination | None) -> None:
        self._set_termination("b", value)

    def _get_termination(self, side: str) -> CableTermination | None:
        label = getattr(self, f"termination_{side}_type")
        pk = getattr(self, f"termination_{side}_id")
        if label is None or pk is None:
            return None
        cache: dict[str, CableTermination] = self.__dict__.setdefault("_terminations", {})
        cached = cache.get(side)
        if cached is None or cached.id != pk or cached._meta_label != label:
            cached = session_for(self).get(termination_model(label), pk)
            if cached is None:
                raise ValidationError(f"Cable: termination_{side} {label} {pk} does not exist")
            cache[side] = cached
        return cached

    def _set_termination(self, side: str, value: CableTermination | None) -> None:
        cache: dict[str, CableTermination] = self.__dict__.setdefault("_terminations", {})
        if value is None:
            setattr(self, f"termination_{side}_type", None)
            setattr(self, f"termination_{side}_id", None)
            cache.pop(side, None)
            return
        if not isinstance(value, CableTermination):
            raise ValidationError(
                f"Cable: termination_{side} must be an interface, console port, console server port, "
                f"power port or power outlet, not {type(value).__name__}"
            )
        setattr(self, f"termination_{side}_type", value._meta_label)
        setattr(self, f"termination_{side}_id", value.id)
        cache[side] = value

    def clean(self) -> None:
        """Both ends set, distinct, compatible, and not already cabled elsewhere."""
        a, b = self.termination_a, self.termination_b
        if a is None or b is None:
            raise ValidationError(f"Cable: termination_{'a' if a is None else 'b'} is required")
        if a._meta_label == b._meta_label and a.id == b.id:
            raise ValidationError(f"Cable: cannot connect {describe_termination(a)} to itself")
        check_compatible(a, b)
        for side, end in (("a", a), ("b", b)):
            existing = end.cable_id or (end.cable.id if end.cable is not None else None)
            if existing is not None and existing != self.id:
                raise ValidationError(
                    f"Cable: termination_{side} {describe_termination(end)} already has a cable "
                    f"({end.cable or existing}); delete that cable first"
                )

    def save(self) -> None:
        """Persist the cable and point both terminations at it, unlinking ends it no longer has."""
        session = session_for(self)
        ends = [end for end in (self.termination_a, self.termination_b) if end is not None]
        if sa.inspect(self).persistent:
            for port in terminations_with_cables(session, cable_id=self.id):
                if all(port is not end for end in ends):
                    port.cable = None
        for end in ends:
            end.cable = self
        super().save()

    def _before_delete(self, session: Session) -> None:
        for port in terminations_with_cables(session, cable_id=self.id):
            port.cable = None
