"""The receiver's delivery loop: push the incident store's outbox to the notify targets, at least once.

It runs beside the worker on threads of its own, so neither acknowledging alerts nor acting on them ever
waits for a webhook. Each round queues the reminders that came due (`incidents.reminders`) and routes new
messages to the targets that want them, one delivery per target; each target then has a lane of its own (a
thread claiming that target's deliveries), so a target that is down or hangs delays only its own updates,
each by at most its timeout. Claims are leased: receivers sharing a store deliver different updates, and a
receiver that dies mid-delivery loses its claims to another after the lease. A failed delivery is retried
with a doubling delay; after `max_attempts`, or once the update is `max_age_s` old, it is given up on, which
the incident's timeline records, as it records each delivery. Deliveries to a target that left the notify
file are given up on the same way, so they do not wait forever. Each round ends by deleting the messages
finished long ago (`server.prune`), never one still waiting to be delivered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from otel_ai_incident.incidents import reminders
from otel_ai_incident.incidents.model import Incident
from otel_ai_incident.incidents.notifications import Delivery, NotificationEvent
from otel_ai_incident.incidents.store import IncidentStore
from otel_ai_incident.names import DeliveryOutcome, PrunedQueue
from otel_ai_incident.server.metrics import ReceiverMetrics
from otel_ai_incident.server.notify import payload
from otel_ai_incident.server.notify.config import NotifyConfig, Target, TargetKind
from otel_ai_incident.server.notify.send import DeliveryError, post_json
from otel_ai_incident.server.prune import DEFAULT_PRUNING, Pruner, PruneSchedule

logger = logging.getLogger("otel_ai_incident.server")

DEFAULT_POLL_S = 1.0
#: Deliveries one lane claims at once (and sends one after another).
CLAIM_BATCH = 8
ROUTE_BATCH = 100
#: The most a reminder scan waits; shorter when the P1 interval is (it is a quarter of it).
MAX_SCAN_EVERY_S = 60.0
MAX_RETRY_DELAY_S = 300.0
#: Added to the time a claimed batch can take (the timeout of each of its requests) for its lease.
LEASE_MARGIN_S = 30.0

_BUILDERS = {TargetKind.SLACK: payload.slack, TargetKind.JSON: payload.generic}


def retry_delay(attempts: int) -> float:
    """1 s after the first failed attempt, doubling, at most 5 minutes."""
    return min(MAX_RETRY_DELAY_S, 2.0 ** max(0, attempts - 1))


class Notifier:
    def __init__(
        self,
        incidents: IncidentStore,
        config: NotifyConfig,
        metrics: ReceiverMetrics,
        *,
        owner: str,
        poll_s: float = DEFAULT_POLL_S,
        clock: Callable[[], float] = time.time,
        pruning: PruneSchedule = DEFAULT_PRUNING,
    ) -> None:
        """`clock` is the time reminders, retries and pruning are reckoned in (tests run it)."""
        self.incidents = incidents
        self.config = config
        self.metrics = metrics
        self.owner = owner
        self.poll_s = poll_s
        self.clock = clock
        self.routes = {event: [t.name for t in config.targets if t.wants(event)] for event in NotificationEvent}
        self.lease_s = CLAIM_BATCH * config.delivery.timeout_s + LEASE_MARGIN_S
        self.scan_every_s = min(MAX_SCAN_EVERY_S, config.p1_reminder_interval_s / 4)
        self._next_scan = 0.0
        self._round_thread = ThreadPoolExecutor(1, thread_name_prefix="aii-notify")
        self._lanes = {t.name: ThreadPoolExecutor(1, thread_name_prefix=f"aii-notify-{t.name}") for t in config.targets}
        self._lane_work: dict[str, Future[int]] = {}
        self.pruner = Pruner(PrunedQueue.OUTBOX, incidents.prune_notifications, metrics, pruning, clock=clock)

    async def run(self) -> None:
        """Rounds until cancelled; a failing store is logged, counted and tried again, never fatal."""
        loop = asyncio.get_running_loop()
        failures = 0
        try:
            while True:
                try:
                    await loop.run_in_executor(self._round_thread, self.round)
                    failures = 0
                except Exception:
                    failures += 1
                    self.metrics.notifier_errors.inc()
                    logger.warning("the outbox cannot be worked on (attempt %d); retrying", failures, exc_info=True)
                await asyncio.sleep(self.poll_s if failures == 0 else retry_delay(failures))
        finally:
            self.close()

    def close(self) -> None:
        """Stop without waiting for requests in flight: their deliveries stay claimed and go out again later."""
        for pool in (self._round_thread, *self._lanes.values()):
            pool.shutdown(wait=False, cancel_futures=True)

    def round(self) -> int:
        """Queue the reminders due, route new messages, start each idle lane and prune when due; how many
        messages were routed."""
        now = self.clock()
        if now >= self._next_scan:
            reminders.enqueue_due(self.incidents, now, self.config.p1_reminder_interval_s)
            self._next_scan = now + self.scan_every_s
        if self.config.targets:  # a receiver without a notify file leaves the others' deliveries alone
            names = [t.name for t in self.config.targets]
            self.incidents.drop_deliveries(names, reason="target no longer in the notify file", at=now)
        routed = 0
        while batch := self.incidents.route_notifications(self.routes, limit=ROUTE_BATCH, at=self.clock()):
            routed += batch
        for target in self.config.targets:
            self._start_lane(target)
        self.pruner.run_if_due()  # never raises
        return routed

    def _start_lane(self, target: Target) -> None:
        running = self._lane_work.get(target.name)
        if running is not None:
            if not running.done():
                return
            if running.exception() is not None:
                self.metrics.notifier_errors.inc()
                logger.warning("delivering to %s failed; retrying", target.name, exc_info=running.exception())
        self._lane_work[target.name] = self._lanes[target.name].submit(self.drain, target)

    def drain(self, target: Target) -> int:
        """Deliver every delivery to `target` that can be claimed; how many were finished."""
        finished = 0
        while batch := self.incidents.claim_deliveries(
            target.name, self.owner, limit=CLAIM_BATCH, lease_s=self.lease_s, now=self.clock()
        ):
            finished += sum(self.deliver(target, delivery) for delivery in batch)
        return finished

    def deliver(self, target: Target, delivery: Delivery) -> bool:
        """Send one claimed delivery; True when it is finished (sent, or given up on), False when it goes
        back for a retry."""
        message = delivery.message
        incident = self.incidents.get(message.incident_id)
        try:
            if incident is None:  # never so (incidents are never deleted); retried, then given up, not faked
                raise DeliveryError(f"no incident {message.incident_id}")
            self._send(target, delivery, incident)
            error = None
        except DeliveryError as failed:
            error = str(failed)
        now = self.clock()
        delivery_settings = self.config.delivery
        if error is None:
            outcome = DeliveryOutcome.DELIVERED
        elif (
            delivery.attempts < delivery_settings.max_attempts
            and now - message.created_at < delivery_settings.max_age_s
        ):
            outcome = DeliveryOutcome.RETRYING
        else:
            outcome = DeliveryOutcome.GAVE_UP
        self.metrics.updates.labels(target.name, message.event.value, outcome.value).inc()
        if outcome is DeliveryOutcome.RETRYING:
            delay = retry_delay(delivery.attempts)
            logger.warning(
                "update %d (%s of %s) to %s failed, attempt %d, retrying in %.0fs: %s",
                message.id,
                message.event.value,
                message.incident_id,
                target.name,
                delivery.attempts,
                delay,
                error,
            )
            self.incidents.retry_delivery(delivery.id, error=str(error), not_before=now + delay)
            return False
        if outcome is DeliveryOutcome.GAVE_UP:
            logger.error(
                "update %d (%s of %s) to %s given up after %d attempts: %s",
                message.id,
                message.event.value,
                message.incident_id,
                target.name,
                delivery.attempts,
                error,
            )
        self.incidents.finish_delivery(delivery.id, error=error, at=now)
        return True

    def _send(self, target: Target, delivery: Delivery, incident: Incident) -> None:
        message = delivery.message
        body = _BUILDERS[target.kind](message, incident, self.config.link(message.incident_id), self.clock())
        post_json(target.url.get_secret_value(), body, self.config.delivery.timeout_s)
