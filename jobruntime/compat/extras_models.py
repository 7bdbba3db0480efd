"""What ``nautobot.extras.models`` provides: statuses and the job bookkeeping records."""

from jobruntime.models import Job, JobLogEntry, JobResult, Status

__all__ = ["Job", "JobLogEntry", "JobResult", "Status"]
