"""``jobruntime worker`` and ``jobruntime publish``: the bus side of the command line."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from jobruntime.cli.common import CommandError, echo_json, loaded


@click.command()
@click.option("-Q", "--queues", default="default", show_default=True, help="Comma-separated task queues to consume.")
@click.option("-c", "--concurrency", default=1, show_default=True, type=click.IntRange(1), help="Worker processes.")
@click.option("--log-level", default="INFO", show_default=True, help="Python logging level of the worker.")
def worker(queues: str, concurrency: int, log_level: str) -> None:
    """Consume run requests from RabbitMQ (JOBRUNTIME_BROKER_URL) until SIGTERM."""
    from jobruntime.bus.transport import Transport
    from jobruntime.core.settings import Settings
    from jobruntime.worker.supervisor import Supervisor

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(processName)s %(levelname)s %(message)s")
    settings = Settings()
    if Transport.for_url(settings.broker_url).in_process:
        raise CommandError(
            "A standalone worker needs a shared broker: set JOBRUNTIME_BROKER_URL=amqp://... "
            "(with the embedded memory:// broker, `jobruntime runjob` starts its own worker)"
        )
    names = [name.strip() for name in queues.split(",") if name.strip()]
    loaded()
    raise SystemExit(Supervisor(settings, names, concurrency).run())


@click.command()
@click.argument("request_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--task-queue", help="Queue to publish to (default: the request's, else the job's first).")
@click.option("-f", "--file", "file_args", multiple=True, metavar="VAR=@PATH",
              help="Upload a file for the FileVar VAR and add its reference to the request (repeatable).")
def publish(request_file: Path, task_queue: str | None, file_args: tuple[str, ...]) -> None:
    """Publish a raw run request (JSON, see `jobruntime messages schema`); prints its job_result_id."""
    from jobruntime.bus.broker import PublishRefused
    from jobruntime.bus.messages import MalformedMessage, RunRequest
    from jobruntime.cli.runjob import parse_files
    from jobruntime.client import Client
    from jobruntime.core.settings import Settings
    from jobruntime.run.auth import signed
    from jobruntime.storage import StoreError

    try:
        request = RunRequest.parse(request_file.read_bytes())
    except MalformedMessage as exc:
        raise CommandError(f"{request_file}: {exc}") from exc
    files = parse_files(file_args, {**request.data, **request.files})
    if files and request.signature is not None:
        raise CommandError("--file changes the request, which breaks its signature: sign the request after the upload")
    if task_queue:
        request = request.model_copy(update={"task_queue": task_queue})
    with Client(Settings(), username=request.requested_by, token=request.token, record_pending=True) as client:
        if files:
            try:
                uploaded = client.upload(request.job_result_id, files)
            except (StoreError, OSError) as exc:
                raise CommandError(str(exc)) from exc
            request = request.model_copy(update={"files": {**request.files, **uploaded}})
        if request.signature is None and request.token is None and client.settings.signing_secret:
            request = signed(request, client.settings.signing_secret)
        try:
            queue = client.publish(request)
        except PublishRefused as exc:
            raise CommandError(str(exc)) from exc
    echo_json({"job_result_id": str(request.job_result_id), "queue": queue})
