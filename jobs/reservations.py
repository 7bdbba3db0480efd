"""Reserve free space inside a prefix: child prefixes or single addresses."""

import netaddr

from jobruntime import IntegerVar, Job, ObjectVar, StringVar
from jobruntime.models import IPAddress, Prefix, Status

name = "IPAM Reservations"


def _free_space(parent, taken):
    """The parts of ``parent`` not covered by any network in ``taken``."""
    free = netaddr.IPSet([parent.prefix])
    for network in taken:
        free.remove(network)
    return free


class ReservePrefixes(Job):
    """Carve the first free child prefixes of a given length out of a parent prefix."""

    class Meta:
        name = "Reserve prefixes"
        description = "Reserve a range of child prefixes inside a parent prefix"
        has_sensitive_variables = False
        field_order = ["parent", "prefix_length", "count", "description"]

    parent = ObjectVar(model=Prefix, description="Prefix to carve the new prefixes from")
    prefix_length = IntegerVar(min_value=1, max_value=128, description="Length of each new prefix")
    count = IntegerVar(min_value=1, max_value=1024, default=1, description="How many prefixes to reserve")
    description = StringVar(required=False, max_length=200, description="Description of the new prefixes")

    def run(self, data, commit):
        parent = data["parent"]
        length = data["prefix_length"]
        longest = 32 if parent.prefix.version == 4 else 128
        if not parent.prefix.prefixlen < length <= longest:
            raise ValueError(f"A /{length} does not fit inside {parent.prefix}")
        taken = [p.prefix for p in Prefix.objects.all() if p.prefix != parent.prefix and p.prefix in parent.prefix]
        free = _free_space(parent, taken)
        reserved_status = Status.objects.get(slug="reserved")
        created = []
        for block in free.iter_cidrs():
            if block.prefixlen > length:
                continue
            for candidate in block.subnet(length):
                if len(created) == data["count"]:
                    break
                prefix = Prefix(
                    prefix=candidate, status=reserved_status, site=parent.site,
                    description=data["description"],
                )
                prefix.validated_save()
                created.append(prefix)
                self.log_success(obj=prefix, message=f"Reserved {candidate} in {parent.prefix}")
        if len(created) < data["count"]:
            self.log_failure(
                obj=parent,
                message=f"Only {len(created)} free /{length} prefixes in {parent.prefix}; {data['count']} requested",
            )
        return "\n".join(str(prefix.prefix) for prefix in created)


class ReserveIPAddresses(Job):
    """Reserve the first free addresses of a prefix."""

    class Meta:
        name = "Reserve IP addresses"
        description = "Reserve a range of IP addresses inside a prefix"
        has_sensitive_variables = False
        field_order = ["prefix", "count", "description"]

    prefix = ObjectVar(model=Prefix, description="Prefix to take the addresses from")
    count = IntegerVar(min_value=1, max_value=1024, default=1, description="How many addresses to reserve")
    description = StringVar(required=False, max_length=200, description="Description of the new addresses")

    def run(self, data, commit):
        parent = data["prefix"]
        network = parent.prefix
        used = {ip.address.ip for ip in IPAddress.objects.all() if ip.address.ip in network}
        if network.version == 4 and network.prefixlen < 31:
            used.update({network.network, network.broadcast})
        reserved_status = Status.objects.get(slug="reserved")
        created = []
        for host in network:
            if len(created) == data["count"]:
                break
            if host in used:
                continue
            address = IPAddress(
                address=netaddr.IPNetwork(f"{host}/{network.prefixlen}"),
                status=reserved_status,
                description=data["description"],
            )
            address.validated_save()
            created.append(address)
            self.log_success(obj=address, message=f"Reserved {address} in {network}")
        if len(created) < data["count"]:
            self.log_failure(
                obj=parent,
                message=f"Only {len(created)} free addresses in {network}; {data['count']} requested",
            )
        return "\n".join(str(address.address) for address in created)
