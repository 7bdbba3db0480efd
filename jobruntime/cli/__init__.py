"""The ``jobruntime`` command line. Sub-commands import what they need when they run."""

from __future__ import annotations

import click

from jobruntime.cli import (
    admin,
    changes,
    git,
    hooks,
    infra,
    inventory,
    jobs,
    messages,
    results,
    runjob,
    schedules,
    serve,
    users,
    worker,
)
from jobruntime.cli.setup_errors import SetupErrorGroup


@click.group(cls=SetupErrorGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Run and administer network automation jobs."""


main.add_command(admin.migrate)
main.add_command(admin.sync)
main.add_command(admin.demo)
main.add_command(users.users)
main.add_command(jobs.jobs)
main.add_command(git.git)
main.add_command(results.results)
main.add_command(runjob.runjob)
main.add_command(worker.worker)
main.add_command(worker.publish)
main.add_command(messages.messages)
main.add_command(serve.serve)
main.add_command(schedules.schedules)
main.add_command(schedules.approvals)
main.add_command(schedules.scheduler)
main.add_command(changes.changes)
main.add_command(hooks.hooks)
main.add_command(inventory.inventory)
main.add_command(infra.infra)
