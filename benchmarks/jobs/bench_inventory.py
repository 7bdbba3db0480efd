"""The benchmark job that changes inventory, kept apart: running the others never declares the inventory models."""

from jobruntime import Job
from jobruntime.models import Site, Status

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
