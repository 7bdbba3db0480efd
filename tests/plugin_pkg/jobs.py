"""Jobs shipped by an installable package rather than JOBS_ROOT."""

from jobruntime import Job

name = "Plugin jobs"


class PluginJob(Job):
    class Meta:
        name = "Plugin job"

    def run(self, data, commit):
        return "from a plugin"
