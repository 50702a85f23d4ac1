"""What the receiver, the CLI and the investigation need from an incident store, whatever keeps it.

`open_incident_store(url)` (in `incidents.sql_store`) picks the backend: `sqlite:///` for one host,
`postgresql://` for receivers that run side by side. Every method is safe to call from several threads and
processes at once; the contracts below hold across processes, which is what lets two receivers share a store.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Protocol

from otel_ai_incident import names
from otel_ai_incident.incidents.model import BlastRadius, EventKind, Incident, IncidentRCA, IncidentStatus, Replay
from otel_ai_incident.incidents.notifications import Delivery, NotificationEvent

#: What an erased pseudonym is replaced with in the timeline (as in every store).
ERASED = names.ERASED_MARKER


def new_incident_id(now: float) -> str:
    """Readable on a call (date first) and unique without coordination: 40 random bits a day make a
    collision unlikely even at 100,000 incidents a day, and the store retries the rare one."""
    return f"INC-{time.strftime('%Y%m%d', time.gmtime(now))}-{secrets.token_hex(5)}"


def episode_key(fingerprint: str, starts_at: float) -> str:
    """One firing of one alert: the same from every Alertmanager replica and every group it lands in."""
    return f"{fingerprint}@{starts_at:.3f}"


class IncidentStore(Protocol):
    def open_for_group(
        self,
        group_key: str,
        *,
        episodes: Collection[str] = (),
        title: str,
        incident_type: str,
        severity: str,
        signals: Iterable[str],
        at: float,
    ) -> Incident:
        """The live (not closed) incident of any of these alert episodes (`episode_key`), else the group's
        live incident, else a new one opened at `at`; the episodes are recorded on it, its signals merged
        and its severity raised to the highest seen ("p1" < "p2" < "p3").

        Atomic across processes: receivers opening for the same episode or group at the same time get the
        same incident, so an alert that reaches two receivers, through two Alertmanager replicas or under two
        group keys, opens one incident. A closed incident is final: a later firing opens a new one.
        """

    def add_event(
        self,
        incident_id: str,
        kind: EventKind,
        at: float,
        detail: Mapping[str, Any] | None = None,
        key: str | None = None,
    ) -> bool:
        """Append to the timeline (`at` is when it happened); False, changing nothing, when `key` was
        recorded before, so a notification processed twice leaves one event."""

    def transition(
        self, incident_id: str, status: IncidentStatus, at: float, by: str, *, blast_radius: BlastRadius | None = None
    ) -> bool:
        """Move to `status` when `model.TRANSITIONS` allows it from the current one, with the change on the
        timeline; False otherwise. Closing also needs a recorded root cause: a closed incident is final,
        and one closed without knowing why it happened teaches nothing and prevents nothing.

        `blast_radius` (the count at the close) is kept on a closed incident, in the same transaction, and
        `get` and `list` return it from then on; other transitions ignore it."""

    def record_rca(self, rca: IncidentRCA, at: float) -> bool:
        """Record (or replace) the root cause; False when the incident is missing or closed."""

    def record_replay(self, incident_id: str, replay: Replay) -> bool:
        """Keep a replay's result and put it on the timeline; False when there is no such incident."""

    def get(self, incident_id: str) -> Incident | None:
        """The incident with its timeline (ordered by event time), root cause, replays and, once closed,
        the blast radius counted at the close."""

    def list(self, *, status: IncidentStatus | None = None, limit: int = 100) -> list[Incident]:
        """Newest first, without timelines (use `get` for one incident's); with the blast radius kept at the
        close."""

    def forget_pseudonyms(self, pseudonyms: Collection[str]) -> int:
        """Replace these user pseudonyms wherever the incidents mention them (containment targets on the
        timeline) with `ERASED`, for an erasure request; how many timeline events changed."""

    # -- the outbox: updates for the team, queued with the changes that cause them (incidents.notifications) --
    #
    # `open_for_group` (a new incident), `add_event` (an event in `notifications.FOR_EVENT`, when added) and
    # `transition` (to a status in `notifications.FOR_STATUS`) queue a message in their own transaction, so a
    # change is never made without its update nor an update queued for a change that was rolled back.

    def enqueue_reminder(
        self, incident_id: str, event: NotificationEvent, n: int, at: float, detail: Mapping[str, Any]
    ) -> bool:
        """Queue reminder `n` of kind `event` for a live incident; False, changing nothing, when that
        (incident, event, n) was queued before, by any process, or the incident is missing or closed."""

    def route_notifications(self, routes: Mapping[NotificationEvent, Collection[str]], *, limit: int, at: float) -> int:
        """Take up to `limit` messages not routed yet (oldest first) and give each one delivery per target
        that `routes` names for its event (none: the message is done); how many messages were routed.
        Concurrent routers take different messages, and a message is routed once."""

    def claim_deliveries(self, target: str, owner: str, *, limit: int, lease_s: float, now: float) -> list[Delivery]:
        """Up to `limit` unfinished deliveries to `target`, oldest first, held for `owner` until
        `now + lease_s` with their attempt counted: ones never claimed, ones whose retry came due, and ones
        whose holder's lease ran out. Concurrent claimers never get the same delivery while its lease holds."""

    def retry_delivery(self, delivery_id: int, *, error: str, not_before: float) -> None:
        """Give a claimed delivery back, to be claimed again from `not_before`, with why it failed."""

    def finish_delivery(self, delivery_id: int, *, error: str | None, at: float) -> None:
        """Done with a delivery: sent (`error` None) or given up on. In the same transaction the incident's
        timeline gets `NOTIFICATION_DELIVERED` or `NOTIFICATION_FAILED` (event, target, attempts, error).
        Finishing a finished delivery changes nothing."""

    def drop_deliveries(self, keep: Collection[str], *, reason: str, at: float) -> int:
        """Give up, as `finish_delivery` does with `reason` as the error, every unfinished delivery to a
        target not in `keep` (one removed or renamed in the notify file) that nobody holds; how many."""

    def notification_backlog(self) -> tuple[int, float | None]:
        """How many messages are not routed yet or have a delivery unfinished, and when the oldest of them
        was queued (None: none)."""

    def prune_notifications(self, finished_before: float, *, limit: int) -> int:
        """Delete up to `limit` messages done before `finished_before` (routed, and every delivery of theirs
        delivered or given up on before it), oldest first, with their deliveries, in one short write
        transaction; how many messages. A message not routed yet, or with a delivery unfinished (new, held,
        waiting for a retry), is never deleted; nor a reminder of an incident not closed yet, whose message
        keeps it from being queued again. The timeline keeps what was delivered. Call again while it returns
        `limit`; receivers pruning one store at once delete disjoint messages without waiting for each other."""

    def close(self) -> None: ...
