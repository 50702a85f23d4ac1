"""The receiver's delivery loop: push the incident store's outbox to the notify targets, at least once.

It runs beside the worker on threads of its own, so neither acknowledging alerts nor acting on them ever
waits for a webhook: a slow or hanging target costs this loop at most its timeout per message. Each round
queues the reminders that came due (`incidents.reminders`), then claims messages (leased, so receivers
sharing a store each deliver different ones, and a receiver that dies mid-delivery loses its messages to
another after the lease) and sends each to the targets that want it and do not have it yet. A failed
target is retried with a doubling delay; after `max_attempts`, or once the message is `max_age_s` old, it is
given up on, which the incident's timeline records, as it records each delivery.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from otel_ai_incident.incidents import reminders
from otel_ai_incident.incidents.model import Incident
from otel_ai_incident.incidents.notifications import OutboxMessage
from otel_ai_incident.incidents.store import IncidentStore
from otel_ai_incident.names import DeliveryOutcome
from otel_ai_incident.server.metrics import ReceiverMetrics
from otel_ai_incident.server.notify import payload
from otel_ai_incident.server.notify.config import NotifyConfig, Target, TargetKind
from otel_ai_incident.server.notify.send import DeliveryError, post_json

logger = logging.getLogger("otel_ai_incident.server")

#: Messages sent at once; also how many one claim takes, so none waits in a claim for a free sender.
SENDERS = 4
DEFAULT_POLL_S = 1.0
#: The most a reminder scan waits; shorter when the P1 interval is (it is a quarter of it).
MAX_SCAN_EVERY_S = 60.0
MAX_RETRY_DELAY_S = 300.0
#: Added to the time a message can take (each target's timeout) for its claim's lease.
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
    ) -> None:
        """`clock` is the time reminders and retries are reckoned in (tests run it)."""
        self.incidents = incidents
        self.config = config
        self.metrics = metrics
        self.owner = owner
        self.poll_s = poll_s
        self.clock = clock
        self.lease_s = len(config.targets) * config.delivery.timeout_s + LEASE_MARGIN_S
        self.scan_every_s = min(MAX_SCAN_EVERY_S, config.p1_reminder_interval_s / 4)
        self._next_scan = 0.0
        self._round_thread = ThreadPoolExecutor(1, thread_name_prefix="aii-notify")
        self._senders = ThreadPoolExecutor(SENDERS, thread_name_prefix="aii-notify-send")

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
        """Stop without waiting for requests in flight: their messages stay claimed and go out again later."""
        self._senders.shutdown(wait=False, cancel_futures=True)
        self._round_thread.shutdown(wait=False, cancel_futures=True)

    def round(self) -> int:
        """Queue the reminders due, then deliver every message that can be claimed; how many were finished."""
        now = self.clock()
        if now >= self._next_scan:
            reminders.enqueue_due(self.incidents, now, self.config.p1_reminder_interval_s)
            self._next_scan = now + self.scan_every_s
        finished = 0
        while batch := self.incidents.claim_notifications(
            self.owner, limit=SENDERS, lease_s=self.lease_s, now=self.clock()
        ):
            finished += sum(self._senders.map(self.deliver, batch))
        return finished

    def deliver(self, message: OutboxMessage) -> bool:
        """Send one claimed message to the targets still missing it; True when it is finished (sent, or
        given up on), False when it goes back for a retry."""
        incident = self.incidents.get(message.incident_id)
        wanted = [t for t in self.config.targets if t.wants(message.event) and t.name not in message.delivered_to]
        sent: list[str] = []
        errors: dict[str, str] = {}
        for target in wanted:
            if incident is None:  # cannot happen (incidents are never deleted); finish rather than retry
                break
            try:
                self._send(target, message, incident)
            except DeliveryError as error:
                errors[target.name] = str(error)
            else:
                sent.append(target.name)
                self._count(target.name, message, DeliveryOutcome.DELIVERED)
        now = self.clock()
        delivery = self.config.delivery
        if errors and message.attempts < delivery.max_attempts and now - message.created_at < delivery.max_age_s:
            for name in errors:
                self._count(name, message, DeliveryOutcome.RETRYING)
            delay = retry_delay(message.attempts)
            logger.warning(
                "update %d (%s of %s) not delivered, attempt %d, retrying in %.0fs: %s",
                message.id,
                message.event.value,
                message.incident_id,
                message.attempts,
                delay,
                _describe(errors),
            )
            self.incidents.retry_notification(
                message.id, delivered_to=sent, error=_describe(errors), not_before=now + delay
            )
            return False
        for name in errors:
            self._count(name, message, DeliveryOutcome.GAVE_UP)
        if errors:
            logger.error(
                "update %d (%s of %s) given up after %d attempts: %s",
                message.id,
                message.event.value,
                message.incident_id,
                message.attempts,
                _describe(errors),
            )
        self.incidents.finish_notification(message.id, delivered_to=sent, failed=errors, at=now)
        return True

    def _send(self, target: Target, message: OutboxMessage, incident: Incident) -> None:
        body = _BUILDERS[target.kind](message, incident, self.config.link(message.incident_id), self.clock())
        post_json(target.url.get_secret_value(), body, self.config.delivery.timeout_s)

    def _count(self, name: str, message: OutboxMessage, outcome: DeliveryOutcome) -> None:
        self.metrics.updates.labels(name, message.event.value, outcome.value).inc()


def _describe(errors: dict[str, str]) -> str:
    return "; ".join(f"{name}: {error}" for name, error in sorted(errors.items()))
