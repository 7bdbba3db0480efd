"""The events a run announces, as outbox rows: ``job.result.<status>`` and batched ``job.log.<level>``.

The wire schemas (pydantic) are imported when the first event is built: a local
run records none, and `runjob --local` should not pay for loading them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from jobruntime.authoring.job import LOG_LEVELS
from jobruntime.bus import outbox
from jobruntime.core.clock import utcnow


def _duration(created: datetime | None, completed: datetime | None) -> float | None:
    if created is None or completed is None:
        return None
    return max((completed - created).total_seconds(), 0.0)


def result_event_row(values: Mapping[str, Any], *, username: str | None = None) -> dict[str, Any]:
    """An outbox row announcing a JobResult's status; ``values`` holds its columns (a row or a dict)."""
    from jobruntime.bus.messages import ResultEvent

    data = values.get("data") or {}
    event = ResultEvent(
        job_result_id=values["id"],
        job=values.get("name") or "",
        status=values["status"],
        reason=values.get("reason"),
        created=values.get("created"),
        started=values.get("started"),
        completed=values.get("completed"),
        duration=_duration(values.get("created"), values.get("completed")),
        output=data.get("output") if isinstance(data, dict) else None,
        log_counts={level: values.get(f"log_{level}") or 0 for level in LOG_LEVELS},
        user=username,
        task_queue=values.get("task_queue"),
        source=values.get("source"),
        files=data.get("files", []) if isinstance(data, dict) else [],
    )
    return outbox.event_row(outbox.EVENTS_EXCHANGE, event.routing_key, event.model_dump(mode="json"))


def log_event_rows(entries: Sequence[Any]) -> Iterable[dict[str, Any]]:
    """One outbox row per level present in a batch of log entries."""
    from jobruntime.bus.messages import LogEvent, LogEventEntry

    by_level: dict[str, list[Any]] = {}
    for entry in entries:
        by_level.setdefault(entry.log_level, []).append(entry)
    now = utcnow()
    for level, batch in by_level.items():
        event = LogEvent(
            emitted_at=now,
            job_result_id=batch[0].job_result_id,
            level=level,
            entries=[
                LogEventEntry(
                    seq=entry.seq, created=entry.created, grouping=entry.grouping, log_level=entry.log_level,
                    message=entry.message, log_object=entry.log_object, object_type=entry.object_type,
                    object_id=entry.object_id,
                )
                for entry in batch
            ],
        )
        yield outbox.event_row(outbox.EVENTS_EXCHANGE, event.routing_key, event.model_dump(mode="json"))
