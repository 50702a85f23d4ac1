"""The async runner that acts on stored notifications after Alertmanager has its 200.

One worker drains the inbox in arrival order on a thread (the stores are blocking SQLite), so the event loop
keeps answering webhooks while actions run, and actions of one receiver never race each other. It starts
with a drain: whatever a crash left pending is finished first.
"""

from __future__ import annotations

import asyncio
import logging
import time

from otel_ai_incident.server.alertmanager import Notification
from otel_ai_incident.server.inbox import Inbox
from otel_ai_incident.server.metrics import ReceiverMetrics
from otel_ai_incident.server.processor import NotificationProcessor

logger = logging.getLogger("otel_ai_incident.server")


class Worker:
    def __init__(
        self, inbox: Inbox, processor: NotificationProcessor, metrics: ReceiverMetrics, act_delay_s: float = 0.0
    ) -> None:
        """`act_delay_s` pauses before each notification is acted on: a test hook for crash tests."""
        self.inbox = inbox
        self.processor = processor
        self.metrics = metrics
        self.act_delay_s = act_delay_s
        self._wake = asyncio.Event()
        self._wake.set()  # the first round finishes what a previous run left pending

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.to_thread(self.drain)

    def drain(self) -> int:
        """Process every pending notification; how many were processed."""
        done = 0
        while batch := self.inbox.pending():
            for stored in batch:
                if self.act_delay_s:
                    time.sleep(self.act_delay_s)
                error = None
                try:
                    self.processor.process(Notification.model_validate_json(stored.body), stored.received_at)
                except Exception as exc:  # one bad notification must not stop the others
                    logger.exception("processing notification %d failed", stored.id)
                    self.metrics.failures.inc()
                    error = repr(exc)
                self.inbox.finish(stored.id, error)
                done += 1
        return done
