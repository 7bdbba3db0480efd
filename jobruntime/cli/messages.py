"""The message contract, for people writing publishers in other languages."""

from __future__ import annotations

import click

from jobruntime.cli.common import echo_json


@click.group()
def messages() -> None:
    """Inspect the run request message format."""


@messages.command("schema")
def schema() -> None:
    """Print the JSON Schema of a run request (message version 1)."""
    from jobruntime.bus.messages import message_schema

    echo_json(message_schema())
