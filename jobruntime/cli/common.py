"""What every sub-command shares: the runtime, error type and JSON output."""

from __future__ import annotations

import gc
import json
import sys
from typing import TYPE_CHECKING, Any

import click

from jobruntime.core.errors import RefusalError

if TYPE_CHECKING:
    from jobruntime.run.runtime import Runtime

EXIT_REFUSED = 4
DATABASE_URL_KEY = "jobruntime.database_url"
RUNTIME_KEY = "jobruntime.run.runtime"


class CommandError(RefusalError, click.ClickException):
    """A command that could not do what was asked; exits 4 so scripts can tell it from a job's status."""

    exit_code = EXIT_REFUSED


def get_runtime() -> Runtime:
    """The runtime of this command, built once per command; its database URL (password hidden) is kept for
    setup error messages."""
    from jobruntime.run.runtime import Runtime

    ctx = click.get_current_context(silent=True)
    if ctx is not None and RUNTIME_KEY in ctx.meta:
        return ctx.meta[RUNTIME_KEY]
    runtime = Runtime.from_settings()
    if ctx is not None:
        ctx.meta[DATABASE_URL_KEY] = runtime.engine.url.render_as_string(hide_password=True)
        ctx.meta[RUNTIME_KEY] = runtime
    return runtime


def loaded() -> None:
    """Resume garbage collection, paused while the command line loaded (see ``jobruntime.__main__``).

    What start-up loaded is frozen first, so later collections skip it, and
    forked worker processes keep sharing its memory pages. When the collector
    was not paused (the command invoked from Python), nothing changes.
    """
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def echo_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
