"""Jobs that exercise each outcome of the run pipeline."""

from jobruntime import Job
from jobruntime.models import Site, Status

name = "Basic Jobs"


def make_site(site_name):
    site = Site(name=site_name, slug=site_name.lower().replace(" ", "-"), status=Status.objects.get(slug="active"))
    site.validated_save()
    return site


class PassingJob(Job):
    description = "Validate job import"

    class Meta:
        name = "Passing job"
        description = "This description is shadowed by the class attribute"
        has_sensitive_variables = False

    def run(self, data, commit):
        site = make_site("Passing Site")
        self.log_info(obj=site, message="Created a site")
        return "Nice Roles!"


class FailingJob(Job):
    class Meta:
        name = "Failing job"

    def run(self, data, commit):
        site = make_site("Failing Site")
        self.log_failure(obj=site, message="Something is wrong")
        self.log_info("still running after the failure")


class ErroringJob(Job):
    class Meta:
        name = "Erroring job"

    def run(self, data, commit):
        make_site("Erroring Site")
        raise RuntimeError("boom")

    def test_never_reached(self):
        self.log_success("unreachable")


class ReadOnlyJob(Job):
    class Meta:
        name = "Read-only job"
        read_only = True

    def run(self, data, commit):
        self.log_info(f"commit={commit}")
        make_site("Read Only Site")


class ReadOnlyErroringJob(Job):
    class Meta:
        name = "Read-only erroring job"
        read_only = True

    def run(self, data, commit):
        raise ValueError("nope")


class OrderedTests(Job):
    class Meta:
        name = "Ordered tests"

    def test_zulu(self):
        self.log_success("zulu")
        return "zulu output"

    def test_alpha(self):
        self.log_success("alpha")


class InheritedTests(OrderedTests):
    class Meta:
        name = "Inherited tests"

    def test_mine(self):
        self.log_success("mine")


class PostRunJob(Job):
    class Meta:
        name = "Post-run job"

    def run(self, data, commit):
        raise KeyError("missing")

    def post_run(self):
        self.log_info(f"post_run sees failed={self.failed}")
        make_site("Post Run Site")
        return "post run output"


class PostRunErrorJob(Job):
    class Meta:
        name = "Post-run error job"

    def run(self, data, commit):
        make_site("Before Post Run Error")
        return "run output"

    def post_run(self):
        raise ZeroDivisionError("post_run broke")


class PostRunWatchesItsRow(Job):
    """post_run() reads its own JobResult row from another connection, as an observer would."""

    class Meta:
        name = "Post-run watching its row"

    def run(self, data, commit):
        make_site("Watched Post Run")

    def post_run(self):
        from sqlalchemy import select

        from jobruntime.models import JobResult

        table = JobResult.__table__
        with self.session.get_bind().connect() as connection:
            row = connection.execute(
                select(table.c.status, table.c.verdict, table.c.completed).where(table.c.id == self.job_result.id)
            ).one()
        self.log_info(f"during post_run: {row.status}, verdict {row.verdict}, completed {row.completed}")


class InitErrorJob(Job):
    class Meta:
        name = "Init error job"

    def __init__(self):
        super().__init__()
        raise TypeError("cannot build")


class LimitsWarningJob(Job):
    class Meta:
        name = "Limits warning job"
        soft_time_limit = 10
        time_limit = 5


class SecretLogger(Job):
    class Meta:
        name = "Secret logger"

    def run(self, data, commit):
        self.log_info("Login with username admin and password hunter2")
        self.log_warning(obj="https://admin:hunter2@device.example.net", message=None)
        return "fetched https://admin:hunter2@device.example.net"


class LongSecrets(Job):
    """Secrets where a cut to the column size, or the exception's text, would expose them."""

    class Meta:
        name = "Long secrets"

    def run(self, data, commit):
        self.log_info(obj="device " + "x" * 175 + " https://admin:SuperSecret99@10.0.0.1/api", message="checked")
        raise RuntimeError("login to https://admin:SuperSecret99@10.0.0.1 failed, password is hunter2")


class DeviceSecrets(Job):
    """Credential shapes of device configurations and HTTP APIs, logged and raised."""

    class Meta:
        name = "Device secrets"

    def run(self, data, commit):
        self.log_info("enable secret 5 $1$mERr$hx5rVt7rPNoS4wqbXKX7m0\nsnmp-server community n0tpublic RO")
        raise RuntimeError("API refused Authorization: Bearer eyJhbGciOi.payload; api_key=AKIA0123 password:hunter2")


class LoudJob(Job):
    """A log line and an output of 1.5 MiB each, past what the database keeps of either."""

    class Meta:
        name = "Loud job"

    def run(self, data, commit):
        self.log_info("y" * (3 * 512 * 1024))
        return "z" * (3 * 512 * 1024)


class RequestJob(Job):
    class Meta:
        name = "Request job"

    def run(self, data, commit):
        self.log_info(f"user={self.request.user.username if self.request else None}")
        self.log_success(obj=None)
        self.results["custom"] = {"answer": 42}


class FileLoader(Job):
    class Meta:
        name = "File loader"

    def run(self, data, commit):
        return f"{self.load_yaml('sample.yaml')['greeting']} {self.load_json('sample.json')['target']}"


class ManyLines(Job):
    class Meta:
        name = "Many lines"

    def run(self, data, commit):
        for number in range(1234):
            self.log_info(f"line {number}")
