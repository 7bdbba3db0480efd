"""Jobs that take files, for the storage tests."""

import hashlib

from jobruntime import ChoiceVar, FileVar, Job

name = "File Jobs"


class ReadInventory(Job):
    """Reads its file to the end and reports its name, size, lines and digest; then ends as ``outcome`` says."""

    class Meta:
        name = "Read inventory"
        has_sensitive_variables = False

    inventory = FileVar()
    notes = FileVar(required=False)
    outcome = ChoiceVar(choices=(("complete", "complete"), ("fail", "fail"), ("raise", "raise")), default="complete")

    def run(self, data, commit):
        upload = data["inventory"]
        digest = hashlib.sha256()
        for chunk in upload.chunks(1024 * 1024):
            digest.update(chunk)
        upload.seek(0)
        lines = sum(1 for _ in upload)
        upload.seek(0)
        first = upload.readline().decode().strip()
        self.log_info(f"{upload.name}: {upload.size} bytes, {lines} lines, first {first!r}, sha256 {digest.hexdigest()}")
        self.log_info(f"notes: {data['notes'].read().decode() if data['notes'] is not None else None}")
        if data["outcome"] == "fail":
            self.log_failure(message="failing on purpose")
        if data["outcome"] == "raise":
            raise RuntimeError("raising on purpose")
        return upload.name


class SensitiveUpload(Job):
    """A job with sensitive variables (the default) that takes a file."""

    class Meta:
        name = "Sensitive upload"

    secret_file = FileVar()

    def run(self, data, commit):
        self.log_info(f"read {len(data['secret_file'].read())} bytes")


class WriteReport(Job):
    """Creates two output files (text and bytes), then ends as ``outcome`` says."""

    class Meta:
        name = "Write report"
        has_sensitive_variables = False

    outcome = ChoiceVar(choices=(("complete", "complete"), ("raise", "raise")), default="complete")

    def run(self, data, commit):
        self.create_file("report.csv", "device,status\nsw1,ok\n")
        self.create_file("../raw.bin", bytes(range(256)))
        if data["outcome"] == "raise":
            raise RuntimeError("raising after the report")
