"""Plugin jobs as a Nautobot 1.x plugin ships them: a module-level ``jobs`` list."""

from nautobot.extras.jobs import Job, StringVar


class Greeting(Job):
    class Meta:
        name = "Greeting"
        has_sensitive_variables = False

    who = StringVar(default="world")

    def run(self, data, commit):
        return f"hello {data['who']}"


jobs = [Greeting]
