"""The outbox relay: events of a run are published in the order they were committed, even across outages."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from jobruntime.bus.broker import Bus
from jobruntime.bus.outbox import EVENTS_EXCHANGE, OutboxRelay, add_events, event_row
from jobruntime.core.settings import Settings
from jobruntime.models import OutboxEvent
from jobruntime.store.prebuilt import transaction

pytestmark = pytest.mark.bus


class RefusingBus:
    """A real (memory://) bus whose publishes fail while ``refusing`` is set: a broker outage, on purpose."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.refusing = True
        self.refused = threading.Event()

    def publish_event(self, routing_key: str, body: dict, *, message_id: str | None = None) -> None:
        self._refuse()
        self.bus.publish_event(routing_key, body, message_id=message_id)

    def publish_events(self, events: list[tuple[str, dict, str | None]]) -> None:
        self._refuse()
        self.bus.publish_events(events)

    def _refuse(self) -> None:
        if self.refusing:
            self.refused.set()
            raise ConnectionError("the broker is away")


@pytest.fixture
def bus() -> Iterator[Bus]:
    with Bus(Settings(broker_url="memory://")) as bus:
        yield bus


def committed_events(engine, *statuses: str) -> list[dict]:
    run = str(uuid.uuid4())
    with transaction(engine) as db:
        return add_events(db, [
            event_row(EVENTS_EXCHANGE, f"job.result.{status}", {"job_result_id": run, "status": status})
            for status in statuses
        ])


def received(subscription, quiet: float = 1.0) -> list[str]:
    statuses = []
    while (message := subscription.get(timeout=quiet)) is not None:
        statuses.append(json.loads(message[1])["status"])
    return statuses


def unpublished(engine, rows) -> int:
    with engine.connect() as connection:
        return len(connection.execute(select(OutboxEvent.id).where(
            OutboxEvent.id.in_([row["id"] for row in rows]), OutboxEvent.published.is_(None))).all())


def test_an_event_refused_by_the_broker_is_not_overtaken_by_a_later_one(engine, bus):
    flaky = RefusingBus(bus)
    relay = OutboxRelay(engine, flaky)
    running, completed = committed_events(engine, "running", "completed")
    with bus.subscribe(["job.result.*"]) as subscription:
        relay.publish_rows([running])
        assert flaky.refused.wait(5)
        flaky.refusing = False
        relay.publish_rows([completed])  # the broker is back before the relay retried the earlier event
        assert received(subscription, quiet=3) == ["running", "completed"]
        relay.close()
    assert unpublished(engine, [running, completed]) == 0


def test_events_a_sweep_published_during_the_outage_are_not_sent_again(engine, bus):
    flaky = RefusingBus(bus)
    relay = OutboxRelay(engine, flaky)
    rows = committed_events(engine, "running", "completed")
    with bus.subscribe(["job.result.*"]) as subscription:
        relay.publish_rows(rows)
        assert flaky.refused.wait(5)
        assert OutboxRelay(engine, bus).publish_pending() == 2  # the supervisor's sweep took them as abandoned
        flaky.refusing = False
        time.sleep(1.5)  # past the relay's first retry
        relay.close()
        assert received(subscription) == ["running", "completed"]
    assert unpublished(engine, rows) == 0
