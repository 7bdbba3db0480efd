"""What ``nautobot.extras.models`` provides: statuses, tags, custom fields and the job bookkeeping records."""

from jobruntime.models import CustomField, CustomFieldChoice, Job, JobLogEntry, JobResult, Status, Tag, TaggedItem

__all__ = ["CustomField", "CustomFieldChoice", "Job", "JobLogEntry", "JobResult", "Status", "Tag", "TaggedItem"]
