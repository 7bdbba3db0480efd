"""The no-op job written as a Nautobot 1.x job file: what the import hook costs at start-up."""

from nautobot.extras.jobs import Job

name = "Benchmarks"


class NautobotNoOp(Job):
    class Meta:
        name = "No-op, Nautobot style"
        has_sensitive_variables = False

    def run(self, data, commit):
        return None
