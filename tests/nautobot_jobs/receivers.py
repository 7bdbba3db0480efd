"""Job button and job hook receivers written for Nautobot 1.x."""

from nautobot.dcim.models import Site
from nautobot.extras.jobs import JobButtonReceiver, JobHookReceiver


class RenameButton(JobButtonReceiver):
    class Meta:
        name = "Mark a site as visited"

    def receive_job_button(self, obj):
        if isinstance(obj, Site):
            obj.description = "visited"
            obj.validated_save()
            self.log_success(obj=obj, message="Marked as visited")


class ChangeLogger(JobHookReceiver):
    class Meta:
        name = "Log changes"

    def receive_job_hook(self, change, action, changed_object):
        self.log_info(message=f"{action}: {changed_object}")
        return action
