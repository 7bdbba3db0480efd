"""Handler for object-change messages from other systems: parse → check credentials → record → outcome.

Recording announces the change and writes the runs of matching job hooks (see
``jobruntime.changes.external``); a message that cannot be read or trusted is
dead-lettered with the reason and reported as a ``job.error`` event.
"""

from __future__ import annotations

from jobruntime.bus.messages import ErrorEvent
from jobruntime.changes.external import ObjectChangeMessage, record_external
from jobruntime.core.errors import RefusalError
from jobruntime.worker.handling import HandlerContext, Outcome


def handle(body: bytes, ctx: HandlerContext) -> Outcome:
    try:
        message = ObjectChangeMessage.parse(body)
        events = record_external(ctx.runtime, message)
    except RefusalError as exc:
        reason = f"object change refused: {exc}"
        ctx.dead_letter(reason)
        event = ErrorEvent(reason=reason, queue=ctx.queue)
        ctx.publish(event.routing_key, event.model_dump(mode="json"))
        return Outcome.rejected(None, reason)
    if events is None:
        return Outcome("duplicate", message.change_id, "change already recorded")
    ctx.runtime.committed(events)
    return Outcome("recorded", message.change_id)
