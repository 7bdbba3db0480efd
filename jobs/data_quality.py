"""Read-only checks of inventory data quality."""

from jobruntime import Job, ObjectVar, StringVar
from jobruntime.models import Device, DeviceRole, Interface, IPAddress

name = "Data Quality"


class RouterLoopbacks(Job):
    """Every router must have a loopback interface with an IP address assigned to it."""

    class Meta:
        name = "Router loopbacks"
        description = "Check that every router has a loopback interface with an assigned IP address"
        read_only = True
        has_sensitive_variables = False

    router_role = ObjectVar(
        model=DeviceRole,
        required=False,
        description="Role of the devices to check (default: the role named Router)",
    )
    loopback_prefix = StringVar(
        default="Loopback",
        description="Interfaces whose name starts with this (any case) count as loopbacks",
    )

    def run(self, data, commit):
        self.router_role = data["router_role"] or DeviceRole.objects.get(name="Router")
        self.loopback_prefix = data["loopback_prefix"]

    def test_router_loopbacks(self):
        for router in Device.objects.filter(device_role=self.router_role):
            loopbacks = list(Interface.objects.filter(device=router, name__istartswith=self.loopback_prefix))
            if not loopbacks:
                self.log_failure(obj=router, message="No loopback interface")
                continue
            addressed = [
                (loopback, address)
                for loopback in loopbacks
                for address in IPAddress.objects.filter(interface=loopback)
            ]
            if not addressed:
                names = ", ".join(loopback.name for loopback in loopbacks)
                self.log_failure(obj=router, message=f"Loopback {names} has no IP address")
            else:
                loopback, address = addressed[0]
                self.log_success(obj=router, message=f"{loopback.name} has {address}")


class IPAddressParents(Job):
    """Every IP address must sit inside a prefix of the same family."""

    class Meta:
        name = "IP address parents"
        description = "Check that every IP address has a parent prefix"
        read_only = True
        has_sensitive_variables = False

    def test_parent_prefixes(self):
        for address in IPAddress.objects.all():
            parent = address.parent
            if parent is None:
                self.log_failure(obj=address, message="No parent prefix")
            else:
                self.log_success(obj=address, message=f"Parent prefix {parent}")
