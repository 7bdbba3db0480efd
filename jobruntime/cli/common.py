"""What every sub-command shares: the runtime, error type and JSON output."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from jobruntime.runtime import Runtime

EXIT_REFUSED = 4


class CommandError(click.ClickException):
    """A command that could not do what was asked; exits 4 so scripts can tell it from a job's status."""

    exit_code = EXIT_REFUSED


def get_runtime() -> Runtime:
    from jobruntime.runtime import Runtime

    return Runtime.from_settings()


def echo_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
