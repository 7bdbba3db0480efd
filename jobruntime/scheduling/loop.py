"""The firing loop: every supervisor (and ``jobruntime scheduler``) fires due schedules on a timer."""

from __future__ import annotations

import datetime as dt
import logging
import math
import signal
import threading
import time

import sqlalchemy.exc
from sqlalchemy import Engine

from jobruntime.bus.outbox import SWEEP_AGE, OutboxRelay
from jobruntime.core.clock import utcnow
from jobruntime.core.settings import Settings
from jobruntime.scheduling.firing import fire_due, next_due

logger = logging.getLogger(__name__)
SWEEP_INTERVAL = 5.0  # seconds between the standalone scheduler's outbox sweeps


class ScheduleFirer:
    """Fires due schedules and hands their requests to the relay.

    A pass runs every ``interval`` seconds, and also as soon as the earliest
    schedule the last pass saw waiting falls due, so a schedule fires within a
    tick of its time while an idle supervisor reads the database once per interval.
    """

    def __init__(self, engine: Engine, relay: OutboxRelay, *, default_queue: str, interval: float) -> None:
        self.engine = engine
        self.relay = relay
        self.default_queue = default_queue
        self.interval = interval
        self._last = -math.inf  # the first tick makes a pass, however recently the machine booted
        self._next_due: dt.datetime | None = None

    def tick(self) -> int:
        """Fire what is due if a pass is due; returns how many runs were recorded. Never raises."""
        waited = time.monotonic() - self._last
        if waited < self.interval and (self._next_due is None or utcnow() < self._next_due):
            return 0
        self._last = time.monotonic()
        fired = 0
        try:
            while True:
                firing = fire_due(self.engine, default_queue=self.default_queue)
                self.relay.publish_rows(firing.events)
                fired += len(firing.runs)
                if not firing.more:
                    self._next_due = next_due(self.engine)
                    return fired
        except sqlalchemy.exc.IntegrityError:
            logger.info("Another scheduler fired these occurrences first")  # SQLite: no row locks to skip
        except Exception:  # noqa: BLE001 - the supervisor outlives database or broker hiccups
            logger.exception("Firing schedules failed; retrying at the next pass")
        self._next_due = None  # after a failure, wait a whole interval
        return fired


def run_scheduler(settings: Settings) -> int:
    """``jobruntime scheduler``: fire schedules and sweep the outbox until SIGTERM, running no jobs."""
    from jobruntime.bus.broker import Bus
    from jobruntime.run.runtime import Runtime

    runtime = Runtime.from_settings(settings, events=True)
    bus = Bus(settings)
    bus.connect()
    relay = OutboxRelay(runtime.engine, bus)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    firer = ScheduleFirer(runtime.engine, relay, default_queue=settings.default_queue,
                          interval=settings.schedule_interval)
    last_sweep = 0.0
    try:
        while not stopping.wait(min(0.2, settings.schedule_interval)):
            firer.tick()
            if time.monotonic() - last_sweep >= SWEEP_INTERVAL:
                last_sweep = time.monotonic()
                try:
                    relay.publish_pending(older_than=SWEEP_AGE)
                except Exception:  # noqa: BLE001 - retried at the next sweep
                    logger.exception("Outbox sweep failed; retrying at the next one")
    finally:
        relay.close()
        bus.close()
    return 0
