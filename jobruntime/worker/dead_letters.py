"""The supervisors' dead-letter sweep: a request the broker gave up on must not leave its run pending.

When every worker process that took a request died before it could claim the run,
the broker dead-letters the request once its delivery limit is spent, and nothing
else would ever end the run. The sweep ends it, but the sweep must not become a way
around the workers' rule that only a run's own user may end it: anyone who can
publish can make a message name any run, and anyone who can publish to the
dead-letter exchange can forge the broker's headers. So the sweep acts only when

- the broker itself dead-lettered the message because its delivery limit was spent
  (a worker's own dead letter says why in ``x-jobruntime-reason``, and that worker
  already recorded what it was allowed to), and
- the message is that run's request: its credentials prove the run's user sent it,
  or it is, unchanged, the request the reaper re-queued from the run's row.

A run with no row yet (every attempt died within its claim window) is recorded
``errored`` for the user the request proves; an unproven one leaves no row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine

from jobruntime.bus.messages import MalformedMessage, RunRequest
from jobruntime.bus.topology import DEAD_QUEUE, FIRST_DEATH_REASON_HEADER, REASON_HEADER
from jobruntime.core.statuses import PENDING
from jobruntime.run.auth import RUN_JOB, AuthenticationFailed, check_credentials
from jobruntime.store.prebuilt import transaction
from jobruntime.worker.admission import read_admission
from jobruntime.worker.leases import EventBuilder, refuse_run, rerun_request

DELIVERY_LIMIT = "delivery_limit"  # the broker's x-first-death-reason for a spent delivery limit


def broker_gave_up(headers: Mapping[str, Any]) -> bool:
    """Whether the broker dead-lettered the message for its spent delivery limit (not a worker, for a reason)."""
    return headers.get(REASON_HEADER) is None and headers.get(FIRST_DEATH_REASON_HEADER) == DELIVERY_LIMIT


def end_dead_lettered_run(
    engine: Engine, body: bytes, headers: Mapping[str, Any], *, signing_secret: str | None, result_event: EventBuilder
) -> list[dict[str, Any]]:
    """End the run a dead-lettered request names, when the rule above allows; returns the committed outbox rows.

    Only the database may fail here: a body that is no run request, or that proves
    nothing, is skipped, never retried.
    """
    if not broker_gave_up(headers):
        return []
    try:
        request = RunRequest.parse(body)
    except MalformedMessage:
        return []
    with transaction(engine) as db:
        facts = read_admission(db, request, RUN_JOB)
    if facts.record is None:
        return []
    run = facts.run
    if run is not None and run["status"] != PENDING:
        return []
    user_id = run["user_id"] if run is not None and _requeued_unchanged(request, run) else None
    if user_id is None:
        try:
            user_id = check_credentials(request, facts.user, facts.token_expires, signing_secret).id
        except AuthenticationFailed:
            return []
    if run is not None and run["user_id"] != user_id:
        return []
    reason = (f"The broker dead-lettered the request ({DELIVERY_LIMIT}): no worker process could take it; "
              f"it is kept in {DEAD_QUEUE}")
    values = {"id": request.job_result_id, "name": facts.record.class_path, "job_model_id": facts.record.id,
              "user_id": user_id}
    return refuse_run(engine, values, reason, events=[result_event]) or []


def _requeued_unchanged(request: RunRequest, run: Mapping[str, Any]) -> bool:
    """Whether ``request`` is the credential-less copy of the run's stored request the reaper re-queued."""
    stored = rerun_request(run)
    return stored is not None and request.token is None and request.signature is None and request.stored() == stored
