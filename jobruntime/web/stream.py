"""``GET /api/extras/job-results/<id>/stream/``: a run's log and status as Server-Sent Events, live from the bus.

The subscription is made before the stored state is read, so nothing falls in
between: the stream first replays the entries already written, then forwards
events as workers publish them (each entry once, by its sequence number, since
events are delivered at least once), and ends after the final status.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import StreamingResponse

from jobruntime.bus.messages import LogEventEntry
from jobruntime.core.statuses import TERMINAL_STATUSES
from jobruntime.models import JobLogEntry, JobResult
from jobruntime.web.gateway import Gateway
from jobruntime.web.results_api import find_result

KEEPALIVE_SECONDS = 15.0  # a comment line this often keeps proxies from closing an idle stream
POLL_SECONDS = 1.0  # how often the stream notices that its client went away


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def status_data(result: JobResult | dict[str, Any]) -> dict[str, Any]:
    get = result.get if isinstance(result, dict) else lambda name: getattr(result, name)
    completed = get("completed")
    return {"status": get("status"), "reason": get("reason"),
            "completed": completed if isinstance(completed, (str, type(None))) else completed.isoformat()}


def log_data(entry: JobLogEntry | LogEventEntry) -> dict[str, Any]:
    return {"seq": entry.seq, "created": entry.created.isoformat(), "grouping": entry.grouping,
            "log_level": entry.log_level, "message": entry.message, "log_object": entry.log_object}


async def stream_result(request: Request) -> StreamingResponse:
    gw: Gateway = request.app.state.gateway
    caller = gw.caller_of(request)
    with gw.session() as session:
        result_id = find_result(session, caller, request.path_params["key"]).id
    subscription = await anyio.to_thread.run_sync(gw.subscribe)
    return StreamingResponse(_events(request, gw, subscription, result_id), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _events(request: Request, gw: Gateway, subscription: Any, result_id: Any) -> AsyncIterator[str]:
    try:
        sent: set[int] = set()
        with gw.session() as session:
            result = session.get(JobResult, result_id)
            entries = session.scalars(sa.select(JobLogEntry).where(JobLogEntry.job_result_id == result_id)
                                      .order_by(JobLogEntry.seq)).all()
            for entry in entries:
                sent.add(entry.seq)
                yield sse("log", log_data(entry))
            status = status_data(result)
        yield sse("status", status)
        if status["status"] in TERMINAL_STATUSES:
            return
        idle = 0.0
        while not await request.is_disconnected():
            message = await anyio.to_thread.run_sync(subscription.get, POLL_SECONDS)
            if message is None:
                idle += POLL_SECONDS
                if idle >= KEEPALIVE_SECONDS:
                    idle = 0.0
                    yield ": keep-alive\n\n"
                continue
            routing_key, body = message
            payload = json.loads(body)
            if payload.get("job_result_id") != str(result_id):
                continue
            if routing_key.startswith("job.log."):
                for raw in payload.get("entries", ()):
                    entry = LogEventEntry.model_validate(raw)
                    if entry.seq not in sent:
                        sent.add(entry.seq)
                        yield sse("log", log_data(entry))
            elif routing_key.startswith("job.result."):
                status = status_data(payload)
                yield sse("status", status)
                if status["status"] in TERMINAL_STATUSES:
                    return
    finally:
        await anyio.to_thread.run_sync(subscription.close)
