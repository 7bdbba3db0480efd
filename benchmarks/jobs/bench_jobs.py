"""Jobs the benchmarks run: as small as possible, so the runtime's own cost is what is measured.

None of them touches inventory, so running them never declares the inventory models
(see ``jobruntime.models``); the job that does lives in ``bench_inventory``.
"""

from jobruntime import FileVar, IntegerVar, Job

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



class ReadFile(Job):
    """Reads its uploaded file to the end, as a job importing a large inventory would."""

    class Meta:
        name = "Read file"
        has_sensitive_variables = False

    upload = FileVar()

    def run(self, data, commit):
        total = 0
        for chunk in data["upload"].chunks(1024 * 1024):
            total += len(chunk)
        return total
