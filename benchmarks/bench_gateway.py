"""(g) The HTTP gateway: ``POST /api/extras/jobs/<uuid>/run/`` → 201 against the same request published with Client.

RabbitMQ + PostgreSQL, ``jobruntime serve --workers 2``. Both sides record the run
pending and publish it with confirms; the gateway also authenticates the token,
checks the permission and validates the input, as it must. Latency: p50/p95 over
sequential requests on one keep-alive connection, the two sides alternating; requests/s: ``CONCURRENCY``
threads at once. Nothing runs the jobs: a consumer on the queue's presence queue is
what the gateway's "no worker" check looks for, and the queue is deleted afterwards.
Target: the gateway adds at most 2 ms at p50.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from kombu import Connection, Consumer

from benchmarks.bench_celery import (
    BIN,
    BROKER_URL,
    REPO,
    JobruntimeSide,
    _terminate,
    _wait_until,
    latency_figures,
    problems_in,
)
from benchmarks.common import drop_postgres, fresh_postgres_url
from jobruntime.authoring.records import find_record
from jobruntime.bus.topology import presence_queue
from jobruntime.client import Client
from jobruntime.models import User
from jobruntime.run.auth import create_token

JOB = "local/bench_jobs/NoOp"
LATENCY_REQUESTS = 500
WARMUP_REQUESTS = 50
THROUGHPUT_REQUESTS = 2000
CONCURRENCY = 8
GATEWAY_WORKERS = 2
TARGET_MS = 2.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def present_consumer(queue: str) -> Iterator[None]:
    """A consumer on the queue's presence queue, as a worker holds one, so publishing is not refused."""
    with Connection(BROKER_URL) as connection:
        consumer = Consumer(connection.channel(), [presence_queue(queue)], no_ack=True)
        consumer.consume()
        try:
            yield
        finally:
            consumer.cancel()


@contextmanager
def gateway(side: JobruntimeSide, log: Path) -> Iterator[str]:
    """``jobruntime serve --workers 2`` on a free port, until the block ends; yields its base URL."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    command = [str(BIN / "jobruntime"), "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(GATEWAY_WORKERS),
               "--log-level", "warning"]
    with log.open("a") as output:
        process = subprocess.Popen(command, env={**os.environ, **side.env}, cwd=REPO, stdout=output, stderr=output)

    def answers() -> bool:
        try:
            return httpx.get(f"{base}/api/", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        _wait_until(answers, process, f"jobruntime serve never answered; see {log}")
        yield base
    finally:
        _terminate(process)


def _token(side: JobruntimeSide) -> tuple[str, str]:
    """The bench user's API token and the job's UUID."""
    with side.runtime.session() as session:
        user = session.query(User).filter_by(username="bench").one()
        token = create_token(session, user, description="bench_gateway")
        job_id = str(find_record(session, JOB).id)
        session.commit()
    return token, job_id


def _interleaved(senders: dict[str, Callable[[], None]], count: int) -> dict[str, list[float]]:
    """``count`` requests of each side, alternating, so a busy moment of the machine hits both alike."""
    samples: dict[str, list[float]] = {name: [] for name in senders}
    for _ in range(count):
        for name, send in senders.items():
            start = time.perf_counter()
            send()
            samples[name].append(time.perf_counter() - start)
    return samples


def _rate(make_sender: Callable[[], tuple[Callable[[], None], Callable[[], None]]], total: int) -> float:
    """Requests per second with ``CONCURRENCY`` threads, each with its own connection (sender, closer)."""
    senders = [make_sender() for _ in range(CONCURRENCY)]
    share = total // CONCURRENCY
    errors: list[BaseException] = []

    def work(send: Callable[[], None]) -> None:
        try:
            for _ in range(share):
                send()
        except BaseException as exc:  # noqa: BLE001 - reported after the threads end
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(send,)) for send, _close in senders]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    for _send, close in senders:
        close()
    if errors:
        raise errors[0]
    return share * CONCURRENCY / elapsed


def main() -> dict[str, float]:
    database_url = fresh_postgres_url()
    home = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    side = JobruntimeSide(database_url, home)
    token, job_id = _token(side)
    run_url = f"/api/extras/jobs/{job_id}/run/"
    headers = {"Authorization": f"Token {token}"}
    body = {"data": {}, "commit": True}
    log = home / "jobruntime-serve.log"
    log.touch()
    try:
        side.client.bus.declare_run_queues([side.queue])
        with present_consumer(side.queue), gateway(side, log) as base:

            def http_sender() -> tuple[Callable[[], None], Callable[[], None]]:
                client = httpx.Client(base_url=base, headers=headers, timeout=30)

                def send() -> None:
                    answer = client.post(run_url, json=body)
                    if answer.status_code != 201:
                        raise RuntimeError(f"gateway answered {answer.status_code}: {answer.text}")

                return send, client.close

            def direct_sender() -> tuple[Callable[[], None], Callable[[], None]]:
                client = Client(side.settings, username="bench", record_pending=True)

                def send() -> None:
                    client.publish(client.request(JOB, data={}, commit=True))

                return send, client.close

            makers = {"gateway": http_sender, "client": direct_sender}
            opened = {name: make() for name, make in makers.items()}
            senders = {name: send for name, (send, _close) in opened.items()}
            _interleaved(senders, WARMUP_REQUESTS)
            samples = _interleaved(senders, LATENCY_REQUESTS)
            figures: dict[str, float] = {}
            for name, (_send, close) in opened.items():
                close()
                figures.update({f"{name}_{key}": value for key, value in latency_figures(samples[name]).items()})
                figures[f"{name}_per_s"] = _rate(makers[name], THROUGHPUT_REQUESTS)
        added = figures["gateway_p50_ms"] - figures["client_p50_ms"]
        figures["added_p50_ms"] = added
        print(f"{'':36}{'p50 ms':>10}{'p95 ms':>10}{'requests/s':>12}")
        for name, label in (("gateway", f"POST …/run/ (serve --workers {GATEWAY_WORKERS})"),
                            ("client", "Client.publish (same request)")):
            print(f"{label:36}{figures[f'{name}_p50_ms']:>10.2f}{figures[f'{name}_p95_ms']:>10.2f}"
                  f"{figures[f'{name}_per_s']:>12.0f}")
        verdict = "met" if added <= TARGET_MS else "NOT met"
        print(f"the gateway adds {added:.2f} ms at p50 (target ≤ {TARGET_MS:.0f} ms: {verdict}); "
              f"{LATENCY_REQUESTS} sequential requests of each, alternating, then {THROUGHPUT_REQUESTS} of each "
              f"on {CONCURRENCY} threads")
        for line in problems_in(log):
            print(f"serve: {line}")
        return figures
    finally:
        side.close()
        drop_postgres(database_url)


if __name__ == "__main__":
    main()
