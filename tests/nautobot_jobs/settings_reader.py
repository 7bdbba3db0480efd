"""A job that reads Django settings and the job result, as Nautobot 1.x jobs do."""

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from nautobot.extras.choices import JobResultStatusChoices
from nautobot.extras.jobs import Job
from nautobot.extras.models import JobResult
from nautobot.utilities.utils import deepmerge, is_uuid

PLUGIN_SETTINGS = settings.PLUGINS_CONFIG.get("inventory_sync", {})


class ReadSettings(Job):
    class Meta:
        name = "Read settings"
        has_sensitive_variables = False

    def run(self, data, commit):
        config = deepmerge({"timeout": 10, "retries": 1}, PLUGIN_SETTINGS)
        self.log_info(message=f"queue={settings.CELERY_TASK_DEFAULT_QUEUE} tz={settings.TIME_ZONE}")
        self.log_info(message=f"jobs_root={settings.JOBS_ROOT} media_root={settings.MEDIA_ROOT}")
        self.log_info(message=f"config={config}")
        device_type = ContentType.objects.get(app_label="dcim", model="device")
        self.log_info(message=f"{device_type} -> {device_type.model_class().__name__}")
        self.results["checked"] = True
        running = self.job_result.status == JobResultStatusChoices.STATUS_RUNNING
        same = self.job_result.data is self.results and "output" in self.job_result.data
        self.log_info(message=f"running={running} live={same} uuid={is_uuid(self.job_result.pk)}")
        return isinstance(self.job_result, JobResult)
