"""A Nautobot 1.x job with required and optional object variables, as Nautobot's own tests exercise them."""

from nautobot.dcim.models import DeviceRole, Site
from nautobot.extras.jobs import IPAddressWithMaskVar, Job, MultiObjectVar, ObjectVar


class ObjectVarsJob(Job):
    class Meta:
        has_sensitive_variables = False

    role = ObjectVar(model=DeviceRole)
    sites = MultiObjectVar(model=Site, required=False)
    address = IPAddressWithMaskVar(required=False)

    def run(self, data, commit):
        return f"{data['role']} / {data['sites'].count() if data['sites'] is not None else 0}"
