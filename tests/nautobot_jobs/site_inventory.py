"""A Nautobot 1.x job file, written as a Nautobot user would: it must run here with no edit."""

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.utils.text import slugify
from nautobot.dcim.choices import InterfaceModeChoices, InterfaceTypeChoices
from nautobot.dcim.models import Device, DeviceRole, DeviceType, Interface, Manufacturer, Site
from nautobot.extras.choices import LogLevelChoices
from nautobot.extras.jobs import BooleanVar, IntegerVar, Job, MultiObjectVar, ObjectVar, StringVar
from nautobot.extras.models import Status
from nautobot.ipam.models import IPAddress, Prefix
from nautobot.tenancy.models import Tenant
from nautobot.utilities.utils import is_truthy

name = "Nautobot-style jobs"


class CreateSite(Job):
    class Meta:
        name = "Create a site"
        description = "Create a site with one switch and a management prefix"
        has_sensitive_variables = False

    site_name = StringVar(description="Name of the new site")
    tenant = ObjectVar(model=Tenant, required=False)
    uplinks = IntegerVar(default=2, min_value=1)

    def run(self, data, commit):
        active = Status.objects.get(slug="active")
        site = Site(name=data["site_name"], slug=slugify(data["site_name"]), status=active, tenant=data["tenant"])
        site.validated_save()
        self.log_success(obj=site, message="Created new site")
        manufacturer, _ = Manufacturer.objects.get_or_create(name="Acme", slug="acme")
        device_type, _ = DeviceType.objects.get_or_create(manufacturer=manufacturer, model="Sw-48", slug="sw-48")
        role, _ = DeviceRole.objects.get_or_create(name="Access", slug="access")
        switch = Device(name=f"{site.slug}-sw1", site=site, device_type=device_type, device_role=role, status=active)
        switch.validated_save()
        for number in range(data["uplinks"]):
            Interface.objects.create(
                device=switch,
                name=f"uplink{number}",
                type=InterfaceTypeChoices.TYPE_10GE_SFP_PLUS,
                mode=InterfaceModeChoices.MODE_TAGGED,
                status=active,
            )
        prefix = Prefix(prefix="10.99.0.0/24", site=site, status=active)
        prefix.validated_save()
        IPAddress(address="10.99.0.1/24", status=active).validated_save()
        self.log_info(message=f"{ContentType.objects.get_for_model(Site)} created, queue {settings.CELERY_TASK_DEFAULT_QUEUE}")
        return f"{switch.name}: {switch.interfaces.count()} uplinks"


class SiteReport(Job):
    class Meta:
        name = "Site report"
        read_only = True

    sites = MultiObjectVar(model=Site)
    verbose = BooleanVar(default=False)

    def run(self, data, commit):
        sites = data["sites"]
        self.log_info(message=f"{sites.count()} sites: {', '.join(sites.values_list('name', flat=True))}")
        for site in sites.filter(tenant__isnull=True):
            self.log_warning(obj=site, message="no tenant")
        try:
            Device.objects.get(name="no-such-device")
        except ObjectDoesNotExist:
            self.log_info(message="no-such-device is absent")
        try:
            Site(name="", status=Status.objects.get(slug="active")).validated_save()
        except ValidationError as error:
            self.log_info(message=f"refused: {error}")
        self.log_info(message=f"levels: {','.join(LogLevelChoices.values())}; verbose {is_truthy(data['verbose'])}")
        return [site.name for site in sites]
