"""IP address management: prefixes, addresses and VLANs.

Each prefix and address also stores its version and fixed-width hexadecimal
range keys, so containment ("which prefix holds this address") is a plain
indexed range comparison on any database.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, ClassVar

import netaddr
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from jobruntime.models.base import Base
from jobruntime.models.dcim import Interface
from jobruntime.models.errors import ValidationError
from jobruntime.models.extensible import Extensible
from jobruntime.models.organization import Site, Status, Tenant, status_column
from jobruntime.models.related import RelatedObjects
from jobruntime.models.types import IPNetworkType

if TYPE_CHECKING:
    from jobruntime.models.query import QuerySet

_MISSING_MASK = "_address_without_mask"


def range_key(address: netaddr.IPAddress) -> str:
    """Fixed-width hex of an address, so string order within one version equals numeric order."""
    return format(int(address), "032x" if address.version == 6 else "08x")


def _parse(model: str, field: str, value: Any) -> netaddr.IPNetwork:
    try:
        return netaddr.IPNetwork(str(value))
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise ValidationError(f"{model}: {field} {value!r} is not a valid IP network") from None


class VLAN(Extensible, Base):
    """A layer-2 VLAN, optionally scoped to a site (VIDs are unique per site)."""

    __tablename__ = "vlan"
    __table_args__ = (sa.UniqueConstraint("site_id", "vid"),)
    _meta_label = "ipam.vlan"
    _url_plural = "vlans"
    _ordering = ("site", "vid")

    vid: Mapped[int] = mapped_column(sa.Integer)
    name: Mapped[str] = mapped_column(sa.String(64))
    site_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("site.id", ondelete="SET NULL"), index=True)
    status_id: Mapped[uuid.UUID | None] = status_column()
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("tenant.id", ondelete="RESTRICT"), index=True)
    description: Mapped[str] = mapped_column(sa.String(200), default="")

    site: Mapped[Site | None] = relationship(back_populates="vlans")
    status: Mapped[Status | None] = relationship()
    tenant: Mapped[Tenant | None] = relationship(back_populates="vlans")
    prefixes: Mapped[RelatedObjects[Prefix]] = relationship(back_populates="vlan", passive_deletes=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.vid})"

    def clean(self) -> None:
        """802.1Q usable VIDs are 1-4094."""
        if self.vid is not None and not 1 <= self.vid <= 4094:
            raise ValidationError(f"VLAN: vid {self.vid} is outside 1-4094")


class Prefix(Extensible, Base):
    """An IPv4 or IPv6 network, e.g. ``10.0.0.0/24``; host bits must be zero."""

    __tablename__ = "prefix"
    __table_args__ = (sa.Index(None, "ip_version", "network_key", "broadcast_key"),)
    _meta_label = "ipam.prefix"
    _url_plural = "prefixes"
    _ordering = ("ip_version", "network_key", "prefix_length")
    _lookup_aliases: ClassVar[dict[str, str]] = {"family": "ip_version"}

    prefix: Mapped[netaddr.IPNetwork] = mapped_column(IPNetworkType)
    network: Mapped[str] = mapped_column(sa.String(39))
    prefix_length: Mapped[int] = mapped_column(sa.Integer)
    ip_version: Mapped[int] = mapped_column(sa.Integer)
    network_key: Mapped[str] = mapped_column(sa.String(32))
    broadcast_key: Mapped[str] = mapped_column(sa.String(32))
    status_id: Mapped[uuid.UUID | None] = status_column()
    site_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("site.id", ondelete="SET NULL"), index=True)
    vlan_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("vlan.id", ondelete="SET NULL"), index=True)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("tenant.id", ondelete="RESTRICT"), index=True)
    is_pool: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    description: Mapped[str] = mapped_column(sa.String(200), default="")

    status: Mapped[Status | None] = relationship()
    site: Mapped[Site | None] = relationship(back_populates="prefixes")
    vlan: Mapped[VLAN | None] = relationship(back_populates="prefixes")
    tenant: Mapped[Tenant | None] = relationship(back_populates="prefixes")

    @validates("prefix")
    def _index_prefix(self, key: str, value: Any) -> netaddr.IPNetwork | None:
        if value is None:
            return None
        prefix = _parse("Prefix", key, value)
        self.network = str(prefix.network)
        self.prefix_length = prefix.prefixlen
        self.ip_version = prefix.version
        self.network_key = range_key(prefix.network)
        self.broadcast_key = range_key(netaddr.IPAddress(prefix.last, prefix.version))
        return prefix

    def __str__(self) -> str:
        return str(self.prefix)

    @property
    def family(self) -> int:
        """4 or 6."""
        return self.ip_version

    def clean(self) -> None:
        """A prefix names a network, so any host bits are a typo worth pointing out; /0 is everything."""
        if self.prefix is not None and self.prefix.prefixlen == 0:
            raise ValidationError(f"Prefix: cannot create prefix with /0 mask ({self.prefix})")
        if self.prefix is not None and self.prefix.ip != self.prefix.network:
            raise ValidationError(f"Prefix: {self.prefix} is not a valid prefix. Did you mean {self.prefix.cidr}?")

    def get_child_ips(self) -> QuerySet[IPAddress]:
        """Addresses whose host lies inside this prefix."""
        return IPAddress.objects.filter(
            ip_version=self.ip_version, host_key__gte=self.network_key, host_key__lte=self.broadcast_key
        )

    def get_available_ips(self) -> netaddr.IPSet:
        """Unused host addresses; network/broadcast (IPv4) and subnet-router anycast (IPv6) are
        excluded unless the prefix is a pool or point-to-point."""
        available = netaddr.IPSet([self.prefix.cidr])
        available -= netaddr.IPSet(self.get_child_ips().values_list("host", flat=True))
        if not self.is_pool:
            if self.ip_version == 4 and self.prefix_length < 31:
                available -= netaddr.IPSet([self.prefix.network, self.prefix.broadcast])
            elif self.ip_version == 6 and self.prefix_length < 127:
                available -= netaddr.IPSet([self.prefix.network])
        return available

    def get_first_available_ip(self) -> str | None:
        """The lowest unused address with this prefix's mask, e.g. ``"10.0.0.1/24"``."""
        available = self.get_available_ips()
        if not available:
            return None
        return f"{next(iter(available))}/{self.prefix_length}"


class IPAddress(Extensible, Base):
    """A host address with its subnet mask (``10.0.0.1/24``), optionally assigned to an interface."""

    __tablename__ = "ip_address"
    __table_args__ = (sa.Index(None, "ip_version", "host_key"),)
    _meta_label = "ipam.ipaddress"
    _url_plural = "ip-addresses"
    _ordering = ("ip_version", "host_key", "prefix_length")
    _lookup_aliases: ClassVar[dict[str, str]] = {
        "family": "ip_version",
        "assigned_object": "interface",
        "assigned_object_id": "interface_id",
    }

    address: Mapped[netaddr.IPNetwork] = mapped_column(IPNetworkType)
    host: Mapped[str] = mapped_column(sa.String(39), index=True)
    prefix_length: Mapped[int] = mapped_column(sa.Integer)
    ip_version: Mapped[int] = mapped_column(sa.Integer)
    host_key: Mapped[str] = mapped_column(sa.String(32))
    status_id: Mapped[uuid.UUID | None] = status_column()
    # Deleting an interface deletes the addresses configured on it, as in Nautobot 1.x.
    interface_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("interface.id", ondelete="CASCADE"), index=True
    )
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("tenant.id", ondelete="RESTRICT"), index=True)
    role: Mapped[str] = mapped_column(sa.String(50), default="")
    dns_name: Mapped[str] = mapped_column(sa.String(255), default="")
    description: Mapped[str] = mapped_column(sa.String(200), default="")

    status: Mapped[Status | None] = relationship()
    interface: Mapped[Interface | None] = relationship(back_populates="ip_addresses")
    tenant: Mapped[Tenant | None] = relationship(back_populates="ip_addresses")

    @validates("address")
    def _index_address(self, key: str, value: Any) -> netaddr.IPNetwork | None:
        self.__dict__.pop(_MISSING_MASK, None)
        if value is None:
            return None
        if isinstance(value, netaddr.IPAddress) or (isinstance(value, str) and "/" not in value):
            self.__dict__[_MISSING_MASK] = str(value)
        address = _parse("IPAddress", key, value)
        self.host = str(address.ip)
        self.prefix_length = address.prefixlen
        self.ip_version = address.version
        self.host_key = range_key(address.ip)
        return address

    def __str__(self) -> str:
        return str(self.address)

    @property
    def family(self) -> int:
        """4 or 6."""
        return self.ip_version

    @property
    def assigned_object(self) -> Interface | None:
        """The interface the address is configured on (Nautobot's generic assignment)."""
        return self.interface

    @assigned_object.setter
    def assigned_object(self, value: Interface | None) -> None:
        if value is not None and not isinstance(value, Interface):
            raise ValidationError(f"IPAddress: assigned_object must be an Interface, not {type(value).__name__}")
        self.interface = value

    @property
    def assigned_object_id(self) -> uuid.UUID | None:
        """The pk of the assigned interface."""
        if self.interface_id is not None:
            return self.interface_id
        return self.interface.id if self.interface is not None else None

    @property
    def parent(self) -> Prefix | None:
        """The most specific prefix of the same family that contains this address."""
        if self.address is None:
            return None
        return (
            Prefix.objects.filter(
                ip_version=self.ip_version,
                network_key__lte=self.host_key,
                broadcast_key__gte=self.host_key,
                prefix_length__lte=self.prefix_length,
            )
            .order_by("-prefix_length")
            .first()
        )

    def clean(self) -> None:
        """An address needs a mask to say which subnet it is on."""
        missing = self.__dict__.get(_MISSING_MASK)
        if missing is not None:
            example = f"{missing}/{24 if self.ip_version == 4 else 64}"
            raise ValidationError(f"IPAddress: address {missing} has no mask; give its subnet length, e.g. {example}")
        if self.address is not None and self.address.prefixlen == 0:
            raise ValidationError(f"IPAddress: address {self.address} cannot have a /0 mask")
