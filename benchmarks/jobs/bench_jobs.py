"""Jobs the benchmarks run: as small as possible, so the runtime's own cost is what is measured.

None of them touches inventory, so running them never declares the inventory models
(see ``jobruntime.models``); the job that does lives in ``bench_inventory``.
"""

from jobruntime import IntegerVar, Job

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

