"""Sample inventory that gives the example jobs something to find, pass and fail on.

The data is deliberately imperfect: one router lacks a loopback address, one
console cable is only planned, one switch has a single power feed and one address
has no parent prefix, so every example report shows each kind of outcome.
"""

from __future__ import annotations

from collections import Counter

import netaddr
from sqlalchemy.orm import Session

from jobruntime.models import (
    VLAN,
    Cable,
    ConsolePort,
    ConsoleServerPort,
    Device,
    DeviceRole,
    DeviceType,
    Interface,
    IPAddress,
    Manufacturer,
    PowerOutlet,
    PowerPort,
    Prefix,
    Region,
    Site,
    Status,
    bind_session,
)

_DEVICE_TYPES = {
    "Catalyst 9300-48P": "Cisco",
    "ISR4451-X": "Cisco",
    "DCS-7050SX3-48YC8": "Arista",
    "CM7148": "Opengear",
    "AP8941": "APC",
}
_ROLES = {"Access Switch": "2196f3", "Router": "ff5722", "Core Switch": "9c27b0", "Console Server": "607d8b", "PDU": "795548"}


def load_demo_data(session: Session) -> dict[str, int]:
    """Create the sample inventory unless it is already there; returns what was created, by kind."""
    created: Counter[str] = Counter()
    with bind_session(session):
        if Site.objects.filter(name="HQ").exists():
            return dict(created)
        _Builder(session, created).build()
    return dict(created)


class _Builder:
    def __init__(self, session: Session, created: Counter[str]) -> None:
        self.session = session
        self.created = created
        self.status = {status.slug: status for status in Status.objects.all()}

    def save(self, obj):
        obj.validated_save()
        self.created[type(obj).__name__] += 1
        return obj

    def build(self) -> None:
        manufacturers = {
            name: self.save(Manufacturer(name=name)) for name in sorted(set(_DEVICE_TYPES.values()))
        }
        types = {
            model: self.save(DeviceType(manufacturer=manufacturers[make], model=model))
            for model, make in _DEVICE_TYPES.items()
        }
        roles = {
            name: self.save(DeviceRole(name=name, color=color))
            for name, color in _ROLES.items()
        }
        europe = self.save(Region(name="Europe", slug="europe"))
        hq = self.save(Site(name="HQ", slug="hq", status=self.status["active"], region=europe))
        self.save(Site(name="Branch 1", slug="branch-1", status=self.status["active"], region=europe))

        def device(name: str, model: str, role: str, status: str = "active") -> Device:
            return self.save(
                Device(name=name, device_type=types[model], device_role=roles[role], site=hq, status=self.status[status])
            )

        rtr1 = device("hq-rtr1", "ISR4451-X", "Router")
        rtr2 = device("hq-rtr2", "ISR4451-X", "Router")
        core = device("hq-core1", "DCS-7050SX3-48YC8", "Core Switch")
        console_server = device("hq-cons1", "CM7148", "Console Server", "staged")
        pdus = [device(f"hq-pdu{n}", "AP8941", "PDU", "staged") for n in (1, 2)]

        server_ports = [self.save(ConsoleServerPort(device=console_server, name=f"Port {n}")) for n in range(1, 9)]
        outlets = [[self.save(PowerOutlet(device=pdu, name=f"Outlet {n}")) for n in range(1, 9)] for pdu in pdus]
        consoles = {d.name: self.save(ConsolePort(device=d, name="Console")) for d in (rtr1, rtr2, core)}
        psus = {d.name: [self.save(PowerPort(device=d, name=f"PSU{n}")) for n in (1, 2)] for d in (rtr1, rtr2, core)}

        self.cable(consoles["hq-rtr1"], server_ports[0], "connected")
        self.cable(consoles["hq-rtr2"], server_ports[1], "planned")
        self.cable(psus["hq-rtr1"][0], outlets[0][0], "connected")
        self.cable(psus["hq-rtr1"][1], outlets[1][0], "connected")
        self.cable(psus["hq-rtr2"][0], outlets[0][1], "connected")
        self.cable(psus["hq-rtr2"][1], outlets[1][1], "planned")
        self.cable(psus["hq-core1"][0], outlets[0][2], "connected")

        for prefix, status in (("10.0.0.0/8", "container"), ("10.1.0.0/16", "active"),
                               ("10.255.0.0/24", "active"), ("192.0.2.0/24", "active")):
            self.save(Prefix(prefix=netaddr.IPNetwork(prefix), status=self.status[status], site=hq))
        for router, wan in ((rtr1, "192.0.2.1/24"), (rtr2, "192.0.2.2/24")):
            loopback = self.save(Interface(device=router, name="Loopback0", type="virtual"))
            uplink = self.save(Interface(device=router, name="GigabitEthernet0/0/0", type="1000base-t"))
            self.save(IPAddress(address=netaddr.IPNetwork(wan), status=self.status["active"], interface=uplink))
            if router is rtr1:
                self.save(IPAddress(address=netaddr.IPNetwork("10.255.0.1/32"), status=self.status["active"],
                                    interface=loopback))
        self.save(IPAddress(address=netaddr.IPNetwork("198.51.100.7/24"), status=self.status["active"],
                            dns_name="orphan.example.net"))
        for vid, name in ((10, "users"), (20, "voice")):
            self.save(VLAN(vid=vid, name=name, site=hq, status=self.status["active"]))

    def cable(self, a, b, status: str) -> Cable:
        return self.save(Cable(termination_a=a, termination_b=b, status=self.status[status]))
