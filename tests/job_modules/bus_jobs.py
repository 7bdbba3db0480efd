"""Jobs for the worker tests: slow, interruptible, and countable."""

import os
import signal
import time

from jobruntime import IntegerVar, Job, ObjectVar, SoftTimeLimitExceeded, StringVar
from jobruntime.models import JobResult, Site, Status

name = "Bus Jobs"


class SlowSite(Job):
    """Creates a site, then (on its first attempt only) sleeps long enough to be killed."""

    class Meta:
        name = "Slow site"
        has_sensitive_variables = False

    seconds = IntegerVar(min_value=0, default=0)
    number = IntegerVar(min_value=0, default=1)

    def run(self, data, commit):
        site = Site(name=f"Slow {data['number']}", slug=f"slow-{data['number']}", status=Status.objects.get(slug="active"))
        site.validated_save()
        self.log_info(obj=site, message=f"attempt {self.job_result.attempt}")
        if self.job_result.attempt == 1:
            time.sleep(data["seconds"])
        return "done"


class SensitiveSlow(Job):
    class Meta:
        name = "Sensitive slow"

    seconds = IntegerVar(min_value=0, default=0)

    def run(self, data, commit):
        self.log_info("sleeping")
        time.sleep(data["seconds"])


class Sleeper(Job):
    """Sleeps; with ``survive_soft`` it catches the soft limit and keeps sleeping into the hard one."""

    class Meta:
        name = "Sleeper"
        has_sensitive_variables = False
        soft_time_limit = 1
        time_limit = 3

    seconds = IntegerVar(min_value=0, default=10)
    survive_soft = IntegerVar(min_value=0, max_value=1, default=0)

    def run(self, data, commit):
        try:
            time.sleep(data["seconds"])
        except SoftTimeLimitExceeded:
            self.log_warning("soft time limit reached, cleaning up")
            if data["survive_soft"]:
                time.sleep(data["seconds"])
            raise


class Quick(Job):
    class Meta:
        name = "Quick"
        has_sensitive_variables = False
        task_queues = []

    def run(self, data, commit):
        self.log_success("quick and done")
        return "ok"


class Brief(Job):
    """Takes ``milliseconds``, less than a claim window: a backlog of these keeps a worker's prefetch full."""

    class Meta:
        name = "Brief"
        has_sensitive_variables = False

    milliseconds = IntegerVar(min_value=0, default=50)

    def run(self, data, commit):
        time.sleep(data["milliseconds"] / 1000)


class LogThenWait(Job):
    """Logs two lines back to back, then waits: the second stays buffered unless something flushes it."""

    class Meta:
        name = "Log then wait"
        has_sensitive_variables = False

    seconds = IntegerVar(min_value=0, default=5)

    def run(self, data, commit):
        self.log_info("first")
        self.log_info("second")
        time.sleep(data["seconds"])


class SiteThenPostRun(Job):
    """Creates a site, then post_run() waits ``seconds`` (the verdict is committed by then) and maybe raises."""

    class Meta:
        name = "Site then post_run"
        has_sensitive_variables = False

    seconds = IntegerVar(min_value=0, default=0)
    fail = IntegerVar(min_value=0, max_value=1, default=0)

    def run(self, data, commit):
        site = Site(name="Post run", slug="post-run", status=Status.objects.get(slug="active"))
        site.validated_save()
        self.seconds, self.fail = data["seconds"], data["fail"]
        return "site created"

    def post_run(self):
        time.sleep(self.seconds)
        self.log_info(message=f"post_run of attempt {self.job_result.attempt}")
        if self.fail:
            raise RuntimeError("post_run broke")


class GilHolder(Job):
    """Stays in C code holding the GIL (a libc sleep through PyDLL) longer than a lease lasts."""

    class Meta:
        name = "GIL holder"
        has_sensitive_variables = False

    seconds = IntegerVar(min_value=0, default=0)

    def run(self, data, commit):
        import ctypes

        ctypes.PyDLL(None).sleep(data["seconds"])
        self.log_info(message=f"attempt {self.job_result.attempt} done")


class CheckedSite(Job):
    """A job as a new user writes one: run(), two tests and post_run(), with the default (sensitive) variables.

    post_run() sleeps ``seconds``; with ``log`` every method logs a line.
    """

    class Meta:
        name = "Checked site"

    number = IntegerVar(min_value=0, default=1)
    seconds = IntegerVar(min_value=0, default=0)
    log = IntegerVar(min_value=0, max_value=1, default=0)

    def run(self, data, commit):
        self.settings = data
        site = Site(name=f"Checked {data['number']}", slug=f"checked-{data['number']}",
                    status=Status.objects.get(slug="active"))
        site.validated_save()
        self._note("run")
        return "site created"

    def test_site_exists(self):
        assert Site.objects.filter(name=f"Checked {self.settings['number']}").count() == 1
        self._note("test_site_exists")

    def test_site_is_active(self):
        self._note("test_site_is_active")

    def post_run(self):
        time.sleep(self.settings["seconds"])
        self._note("post_run")
        return "post_run done"

    def _note(self, where):
        if self.settings["log"]:
            self.log_info(message=f"{where} of attempt {self.job_result.attempt}")


class LosesItsConnection(Job):
    """Creates a site, then (on its first ``lose_on`` attempts) has PostgreSQL end its own connection."""

    class Meta:
        name = "Loses its connection"
        has_sensitive_variables = False

    number = IntegerVar(min_value=0, default=1)
    lose_on = IntegerVar(min_value=0, default=1)

    def run(self, data, commit):
        from sqlalchemy import text

        Site(name=f"Lost {data['number']}", slug=f"lost-{data['number']}",
             status=Status.objects.get(slug="active")).validated_save()
        self.log_info(message=f"attempt {self.job_result.attempt}")
        if self.job_result.attempt <= data["lose_on"]:
            self.session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        return "done"


class SensitiveLosesItsConnection(LosesItsConnection):
    class Meta:
        name = "Sensitive loses its connection"


class DuplicateSite(Job):
    """Creates the same site twice: the job's own database error (a unique slug)."""

    class Meta:
        name = "Duplicate site"
        has_sensitive_variables = False

    def run(self, data, commit):
        active = Status.objects.get(slug="active")
        for _ in range(2):
            Site(name="Twice", slug="twice", status=active).save()
        return "unreachable"


class ResultReader(Job):
    """Returns the output of the run its input names: only a run the requester may see."""

    class Meta:
        name = "Result reader"
        has_sensitive_variables = False

    result = ObjectVar(model=JobResult)

    def run(self, data, commit):
        return data["result"].data["output"]


class KillsItsWorker(Job):
    """Kills the process running it, at once: a job that crashes its worker every time (test_crash_loops)."""

    class Meta:
        name = "Kills its worker"
        has_sensitive_variables = False  # its input is stored, so the reaper may run it again

    marker = StringVar(description="A file each attempt appends its number to")

    def run(self, data, commit):
        with open(data["marker"], "a") as marker:
            marker.write(f"{self.job_result.attempt}\n")
        os.kill(os.getpid(), signal.SIGKILL)
