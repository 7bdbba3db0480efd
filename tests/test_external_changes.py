"""Object changes fed in by other systems through exchange jobruntime.changes, on the real bus.

These tests run a `jobruntime worker` consuming the changes queue against RabbitMQ and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid

import pytest
from kombu import Connection, Exchange, Producer
from sqlalchemy import select

from jobruntime.bus.topology import CHANGES_EXCHANGE, CHANGES_QUEUE, REASON_HEADER
from jobruntime.changes.external import ObjectChangeMessage
from jobruntime.changes.hooks import hook_run_id
from jobruntime.models import ObjectChange
from tests.bus_support import RABBIT_URL, running_worker, wait_for_result
from tests.rabbit import DeadLetterTap
from tests.test_job_hooks import LOG_RECEIVER, add_hook
from tests.test_worker import _dead_letter_with, log_messages, stack  # noqa: F401 - stack is a fixture

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)

SECRET = "test-signing-secret"  # tests.bus_support's JOBRUNTIME_SIGNING_SECRET


@pytest.fixture
def changes_stack(stack):
    yield stack
    with Connection(RABBIT_URL) as connection:
        connection.channel().queue_delete(CHANGES_QUEUE)


def message(**fields) -> dict:
    body = {
        "version": 1, "change_id": str(uuid.uuid4()), "time": "2026-12-05T10:00:00Z", "action": "create",
        "changed_object_type": "dcim.device", "changed_object_id": str(uuid.uuid4()), "object_repr": "nb-sw1",
        "object_data": {"name": "nb-sw1", "serial": "X1"}, "user_name": "nautobot-admin", "requested_by": "alice",
    }
    body.update(fields)
    return body


def signed(body: dict, secret: str = SECRET) -> dict:
    canonical = ObjectChangeMessage.model_validate(body).canonical_bytes()
    return {**body, "signature": hmac.new(secret.encode(), canonical, hashlib.sha256).hexdigest()}


def send(body: dict | bytes, routing_key: str = "object.change.dcim.device.create") -> None:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    with Connection(RABBIT_URL) as connection:
        Producer(connection.channel()).publish(
            payload, exchange=Exchange(CHANGES_EXCHANGE, type="topic", durable=True), routing_key=routing_key,
            content_type="application/json", content_encoding="binary", delivery_mode=2)


def recorded(stack, change_id: str, timeout: float = 30) -> ObjectChange | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with stack.runtime.session() as session:
            change = session.get(ObjectChange, uuid.UUID(change_id))
        if change is not None:
            return change
        time.sleep(0.2)
    return None


def changes_worker(stack):
    return running_worker(stack.env, queues=f"{stack.queue},{CHANGES_QUEUE}")


def test_a_signed_change_is_recorded_as_external_and_starts_its_hook_once(changes_stack):
    stack = changes_stack
    hook = add_hook(stack, LOG_RECEIVER, ["dcim.device"], "create")
    body = signed(message())
    with changes_worker(stack):
        send(body)
        send(body)  # a redelivery records nothing new
        change = recorded(stack, body["change_id"])
        run = wait_for_result(stack.runtime, hook_run_id(hook.id, change.id))
        time.sleep(2)
        with stack.runtime.session() as session:
            count = len(session.scalars(select(ObjectChange)).all())
    assert (change.change_context, change.change_context_detail, change.user_name) == ("external", "alice",
                                                                                       "nautobot-admin")
    assert change.object_data == {"name": "nb-sw1", "serial": "X1"} and count == 1
    assert run.status == "completed"
    assert log_messages(stack, run.id) == ["create dcim.device nb-sw1 object=None user=alice snapshot=nb-sw1"]


def test_a_change_with_a_users_token_is_recorded(changes_stack):
    stack = changes_stack
    body = message(requested_by="bob", token=stack.bob_token, action="update",
                   changed_object_type="ipam.prefix")
    with changes_worker(stack):
        send(body, "object.change.ipam.prefix.update")
        change = recorded(stack, body["change_id"])
    assert change is not None and change.user_name == "nautobot-admin" and change.action == "update"


@pytest.mark.parametrize(("body", "reason"), [
    (signed(message(), secret="wrong"), "object change refused: Invalid signature"),
    (message(token="not-a-token"), "object change refused: Invalid token for user alice"),
    (message(action="rename", signature="x"), "object change refused: action: Input should be 'create', 'update'"),
    (b"{not json", "object change refused: The object-change message is not JSON"),
])
def test_a_bad_change_message_is_dead_lettered_with_the_reason_and_records_nothing(changes_stack, body, reason):
    stack = changes_stack
    tap = DeadLetterTap()
    # a dead-lettered body loses its credentials and is written again, so it is found by its change_id
    marker = body if isinstance(body, bytes) else body["change_id"].encode()
    with changes_worker(stack):
        send(body)
        parked = _dead_letter_with(tap, marker[:40])
        tap.close()
    assert parked is not None
    assert parked.headers[REASON_HEADER].startswith(reason), parked.headers[REASON_HEADER]
    if isinstance(body, dict):
        assert recorded(stack, body["change_id"], timeout=1) is None
