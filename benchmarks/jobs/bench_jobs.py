"""Jobs the benchmarks run: as small as possible, so the runtime's own cost is what is measured."""

from jobruntime import IntegerVar, Job
from jobruntime.models import Site, Status

name = "Benchmarks"


class NoOp(Job):
    class Meta:
        name = "No-op"
        has_sensitive_variables = False

    def run(self, data, commit):
        return None


class LogLines(Job):
    class Meta:
        name = "Log lines"
        has_sensitive_variables = False

    lines = IntegerVar(min_value=0, default=100)

    def run(self, data, commit):
        log_info = self.log_info
        for number in range(data["lines"]):
            log_info(f"Checked interface {number} on device bench-switch: all good")


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
