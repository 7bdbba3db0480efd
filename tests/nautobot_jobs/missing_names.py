"""A job that imports a name jobruntime does not provide."""

from nautobot.extras.jobs import Job, get_task_logger

logger = get_task_logger(__name__)


class UsesTaskLogger(Job):
    def run(self, data, commit):
        logger.info("hello")
