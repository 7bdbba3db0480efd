"""The benchmark job that changes inventory, kept apart: running the others never declares the inventory models."""

from jobruntime import IntegerVar, Job, JobHookReceiver
from jobruntime.models import Device, DeviceRole, DeviceType, Manufacturer, Site, Status

name = "Benchmarks"


class RowAndLogs(Job):
    """One inventory row and ten log lines: the smallest job that does what real jobs do."""

    class Meta:
        name = "Row and logs"
        has_sensitive_variables = False

    def run(self, data, commit):
        name = f"bench-{self.job_result.id}"  # unique per run, so 2,000 runs never collide
        Site(name=name, slug=name, status=Status.objects.get(slug="active")).validated_save()
        for number in range(10):
            self.log_info(f"Checked interface {number} on {name}: all good")


class OneRow(Job):
    """One inventory row and nothing else: the smallest job that changes data (benchmarks.bench_drain)."""

    class Meta:
        name = "One row"
        has_sensitive_variables = False

    def run(self, data, commit):
        name = f"bench-{self.job_result.id}"
        Site(name=name, slug=name, status=Status.objects.get(slug="active")).validated_save()


class CreateDevices(Job):
    """``count`` devices in one site: the change log's cost per object (benchmarks.bench_changes)."""

    class Meta:
        name = "Create devices"
        has_sensitive_variables = False

    count = IntegerVar(min_value=1, default=1000)

    def run(self, data, commit):
        active = Status.objects.get(slug="active")
        site = Site(name=f"bench-{self.job_result.id}", slug=f"bench-{self.job_result.id}", status=active)
        site.validated_save()
        manufacturer, _ = Manufacturer.objects.get_or_create(name="Bench", slug="bench")
        device_type, _ = DeviceType.objects.get_or_create(manufacturer=manufacturer, model="Bench", slug="bench")
        role, _ = DeviceRole.objects.get_or_create(name="Bench", slug="bench")
        for number in range(data["count"]):
            Device(name=f"bench-{number}", site=site, device_type=device_type, device_role=role,
                   status=active).validated_save()


class NoOpReceiver(JobHookReceiver):
    """The job hooks run in benchmarks.bench_job_hooks: it does nothing, so the dispatch is what is measured."""

    class Meta:
        name = "No-op receiver"
        has_sensitive_variables = False

    def receive_job_hook(self, change, action, changed_object):
        return None
