"""``jobruntime serve``: the HTTP gateway (Nautobot's REST API for jobs), served by uvicorn."""

from __future__ import annotations

import click

from jobruntime.cli.common import CommandError


def _address(bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise CommandError(f"--bind takes HOST:PORT (for example 127.0.0.1:8080), not {bind!r}")
    return host.strip("[]"), int(port)


@click.command()
@click.option("--bind", default="127.0.0.1:8080", show_default=True, help="Address to listen on, HOST:PORT.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1), help="Gateway processes.")
@click.option("--log-level", default="info", show_default=True, help="uvicorn's log level.")
def serve(bind: str, workers: int, log_level: str) -> None:
    """Serve the REST API for jobs and results until interrupted (stateless: run as many as you like)."""
    import uvicorn

    from jobruntime.bus.transport import Transport
    from jobruntime.core.settings import Settings

    host, port = _address(bind)
    if Transport.for_url(Settings().broker_url).in_process:
        raise CommandError(
            "The gateway publishes to workers through a shared broker: set JOBRUNTIME_BROKER_URL=amqp://... "
            "(the embedded memory:// broker lives inside one process)"
        )
    uvicorn.run("jobruntime.web:app", host=host, port=port, workers=workers, log_level=log_level.lower(),
                proxy_headers=False)
