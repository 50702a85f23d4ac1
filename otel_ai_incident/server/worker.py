"""The async runner that acts on stored notifications after Alertmanager has its 200.

The worker claims notifications from the inbox (its own, or ones a dead peer left behind once their lease
ran out) and processes them on a thread, so the event loop keeps answering webhooks while actions run. A
notification whose processing fails goes back to the inbox with a growing delay and is retried until it
succeeds: work that was acknowledged is never dropped. The loop itself cannot die: when the inbox cannot be
read it backs off and tries again, and `/healthz` reports how long the oldest work has waited. After a round
it deletes notifications finished long ago (`server.prune`), on the same thread, never the unfinished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time

from otel_ai_incident.names import PrunedQueue
from otel_ai_incident.server.alertmanager import Notification
from otel_ai_incident.server.inbox.store import InboxStore
from otel_ai_incident.server.metrics import ReceiverMetrics
from otel_ai_incident.server.processor import NotificationProcessor
from otel_ai_incident.server.prune import DEFAULT_PRUNING, Pruner, PruneSchedule

logger = logging.getLogger("otel_ai_incident.server")

#: How long a claim holds: a receiver that dies holding work loses it to another receiver after this.
DEFAULT_LEASE_S = 10.0  # the same default as `serve --claim-lease`
#: How often an idle worker looks for work nobody holds (a peer's leftovers, retries that came due).
DEFAULT_POLL_S = 1.0
CLAIM_BATCH = 8
MAX_RETRY_DELAY_S = 60.0
INBOX_FAILING = "the worker cannot read or update the inbox"
ACTING_FAILS = "acting on a notification failed; it waits for a retry"


def retry_delay(attempts: int) -> float:
    """0.5 s after the first failure, doubling, at most a minute."""
    return min(MAX_RETRY_DELAY_S, 0.5 * 2.0 ** max(0, attempts - 1))


def new_owner() -> str:
    """A name for this receiver's claims, unique across hosts and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Worker:
    def __init__(
        self,
        inbox: InboxStore,
        processor: NotificationProcessor,
        metrics: ReceiverMetrics,
        act_delay_s: float = 0.0,
        *,
        lease_s: float = DEFAULT_LEASE_S,
        poll_s: float = DEFAULT_POLL_S,
        owner: str | None = None,
        pruning: PruneSchedule = DEFAULT_PRUNING,
    ) -> None:
        """`act_delay_s` pauses before each notification is acted on: a test hook for crash tests."""
        self.inbox = inbox
        self.processor = processor
        self.metrics = metrics
        self.act_delay_s = act_delay_s
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.owner = owner or new_owner()
        self.pruner = Pruner(PrunedQueue.INBOX, inbox.prune, metrics, pruning)
        self._wake = asyncio.Event()
        self._wake.set()  # the first round finishes what a previous run left pending
        #: What keeps this receiver from acting right now, for `/healthz`: the inbox could not be read or
        #: updated in the last round, or the last notification it tried failed (a store full or down).
        #: None once a round, or a notification, succeeds again. Only this receiver's own attempts count:
        #: a shared inbox's failing notification must not take every receiver out of service.
        self.failing: str | None = None

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        failures = 0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_s)
            self._wake.clear()
            try:
                await asyncio.to_thread(self.drain)
                await asyncio.to_thread(self.pruner.run_if_due)  # never raises
                failures = 0
            except Exception:
                failures, self.failing = failures + 1, INBOX_FAILING
                self.metrics.worker_errors.inc()
                logger.warning("the inbox cannot be worked on (attempt %d); retrying", failures, exc_info=True)
                await asyncio.sleep(retry_delay(failures))

    def drain(self) -> int:
        """Process every notification this worker can claim; how many were processed successfully."""
        done = 0
        while batch := self.inbox.claim(self.owner, limit=CLAIM_BATCH, lease_s=self.lease_s, now=time.time()):
            for stored in batch:
                if self.act_delay_s:
                    time.sleep(self.act_delay_s)
                try:
                    self.processor.process(Notification.model_validate_json(stored.body), stored.received_at)
                except Exception as error:  # one failing notification must not stop the others
                    delay = retry_delay(stored.attempts)
                    logger.warning(
                        "processing notification %d failed (attempt %d), retrying in %.1fs: %r",
                        stored.id,
                        stored.attempts,
                        delay,
                        error,
                    )
                    self.metrics.failures.inc()
                    self.failing = ACTING_FAILS
                    self.inbox.retry_later(stored.id, error=repr(error), not_before=time.time() + delay)
                    continue
                self.inbox.finish(stored.id)
                self.failing = None
                done += 1
        if self.failing == INBOX_FAILING:  # the inbox answered this round
            self.failing = None
        return done
