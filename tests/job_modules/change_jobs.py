"""Jobs that change inventory, and hook receivers, for the change log and job hook tests."""

from jobruntime import Job, JobHookReceiver
from jobruntime.models import Device, DeviceRole, DeviceType, Interface, IPAddress, Manufacturer, Site, Status

name = "Change Jobs"


def _device(device_name, site):
    manufacturer, _ = Manufacturer.objects.get_or_create(name="Acme", slug="acme")
    device_type, _ = DeviceType.objects.get_or_create(manufacturer=manufacturer, model="Switch", slug="switch")
    role, _ = DeviceRole.objects.get_or_create(name="Access", slug="access")
    device = Device(name=device_name, site=site, device_type=device_type, device_role=role,
                    status=Status.objects.get(slug="active"))
    device.validated_save()
    return device


class CreateDevices(Job):
    class Meta:
        name = "Create three devices"
        has_sensitive_variables = False

    def run(self, data, commit):
        site = Site(name="HQ", slug="hq", status=Status.objects.get(slug="active"))
        site.validated_save()
        for index in range(3):
            _device(f"sw{index}", site)


class CreateThenRaise(CreateDevices):
    class Meta:
        name = "Create devices, then raise"
        has_sensitive_variables = False

    def run(self, data, commit):
        super().run(data, commit)
        raise RuntimeError("no, after all")


class RenameDevice(Job):
    class Meta:
        name = "Rename sw0"
        has_sensitive_variables = False

    def run(self, data, commit):
        device = Device.objects.get(name="sw0")
        device.name = "core0"
        device.serial = "ABC"
        device.validated_save()


class DeleteDeviceWithInterface(Job):
    """Creates sw9 with an interface and an address, then deletes the device: the database cascades."""

    class Meta:
        name = "Delete a device with its interface"
        has_sensitive_variables = False

    def run(self, data, commit):
        site = Site.objects.get(name="HQ")
        device = _device("sw9", site)
        interface = Interface(device=device, name="eth0")
        interface.validated_save()
        IPAddress(address="10.0.0.1/24", interface=interface, status=Status.objects.get(slug="active")).validated_save()
        Device.objects.get(name="sw9").delete()


class LogReceiver(JobHookReceiver):
    class Meta:
        name = "Log the change"
        has_sensitive_variables = False

    def receive_job_hook(self, change, action, changed_object):
        user = self.request.user.username if self.request and self.request.user else None
        self.log_info(f"{action} {change.changed_object_type} {change.object_repr} "
                      f"object={changed_object} user={user} snapshot={change.object_data.get('name')}")


class EditingReceiver(JobHookReceiver):
    class Meta:
        name = "Edit the changed device"
        has_sensitive_variables = False

    def receive_job_hook(self, change, action, changed_object):
        changed_object.serial = f"seen-{changed_object.name}"
        changed_object.validated_save()
        self.log_info(f"edited {changed_object.name}")


class RenameInPostRun(Job):
    class Meta:
        name = "Rename sw1 in post_run"
        has_sensitive_variables = False

    def run(self, data, commit):
        pass

    def post_run(self):
        device = Device.objects.get(name="sw1")
        device.name = "late1"
        device.validated_save()
