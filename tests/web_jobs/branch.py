"""Jobs the HTTP gateway tests run: one with typed input that writes and logs, one held for approval."""

import time

from jobruntime import IntegerVar, Job, ObjectVar, StringVar
from jobruntime.models import DeviceRole, Site, Status

name = "Web Jobs"


class MakeSite(Job):
    """Creates a site and logs each step."""

    class Meta:
        name = "Make site"
        description = "Creates a site"
        has_sensitive_variables = False

    site_name = StringVar(max_length=50)
    steps = IntegerVar(min_value=1, max_value=5, default=2)
    role = ObjectVar(model=DeviceRole, required=False)
    pause = IntegerVar(min_value=0, max_value=5000, default=0, required=False)

    def run(self, data, commit):
        for step in range(1, data["steps"] + 1):
            self.log_info(message=f"step {step} of {data['steps']}")
            time.sleep(data["pause"] / 1000)
        site = Site(name=data["site_name"], slug=data["site_name"].lower().replace(" ", "-"),
                    status=Status.objects.get(slug="active"))
        site.validated_save()
        self.log_success(obj=site, message="Created the site")
        return data["site_name"]

    def test_site_exists(self):
        self.log_info(message="checked")


class NeedsApproval(Job):
    class Meta:
        name = "Needs approval"
        approval_required = True
        has_sensitive_variables = False

    def run(self, data, commit):
        self.log_info(message="approved run")


class Elsewhere(Job):
    """Runs only on a queue no worker in the tests consumes."""

    class Meta:
        name = "Elsewhere"
        has_sensitive_variables = False
        task_queues = ["nowhere"]

    def run(self, data, commit):
        self.log_info(message="never here")
