"""The message contract, for people writing publishers in other languages."""

from __future__ import annotations

import click

from jobruntime.cli.common import echo_json


@click.group()
def messages() -> None:
    """Inspect the message formats: run requests and object changes."""


@messages.command("schema")
@click.argument("kind", type=click.Choice(["run-request", "object-change"]), default="run-request")
def schema(kind: str) -> None:
    """Print the JSON Schema of a run request (default) or of an object-change message (version 1)."""
    if kind == "object-change":
        from jobruntime.changes.external import object_change_schema

        echo_json(object_change_schema())
        return
    from jobruntime.bus.messages import message_schema

    echo_json(message_schema())
