"""What the receiver needs from its inbox, on any engine.

Receivers may share one inbox (PostgreSQL): a stored notification is acted on by the receiver that claims
it, under a lease. A receiver that dies holding a claim loses it when the lease runs out and another takes
the work over; one that fails to act puts it back with a time before which nobody retries, so work accepted
with a 200 is finished or retried, never dropped. Acting twice is harmless (every action is keyed on the
alert), so a lease that runs out under a slow receiver costs time, not correctness.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class StoredNotification:
    id: int
    received_at: float
    body: str
    #: How many times it was claimed, this claim included.
    attempts: int = 1


class InboxStore(Protocol):
    def add(self, notifications: Sequence[tuple[str, float]]) -> list[int]:
        """Store (body, received_at) pairs durably in one transaction; their ids, in order. Raises when
        they could not be stored (the request path then answers 5xx and Alertmanager retries)."""

    def claim(self, owner: str, *, limit: int, lease_s: float, now: float) -> list[StoredNotification]:
        """Up to `limit` unfinished notifications nobody holds (never claimed, lease run out, or retry time
        reached), oldest first, now held by `owner` until `now + lease_s`. Concurrent claimers get
        disjoint sets."""

    def finish(self, notification_id: int) -> None:
        """Mark a notification done: it is never claimed again."""

    def retry_later(self, notification_id: int, *, error: str, not_before: float) -> None:
        """Give a claimed notification back after a failure: claimable again from `not_before`, with the
        error kept for `pending_errors`."""

    def count(self, *, pending: bool) -> int:
        """How many notifications are unfinished (`pending=True`) or finished."""

    def oldest_pending(self) -> float | None:
        """`received_at` of the oldest unfinished notification, None when there is none."""

    def pending_errors(self, limit: int = 20) -> list[tuple[int, int, str]]:
        """(id, attempts, last error) of unfinished notifications that failed at least once, oldest first."""

    def prune(self, finished_before: float, *, limit: int) -> int:
        """Delete up to `limit` notifications finished (`finish`) before `finished_before`, oldest first, in
        one short write transaction; how many. Unfinished ones (never claimed, held, waiting for a retry)
        are never deleted, nor the processed alert keys. Call again while it returns `limit`. Receivers
        pruning one inbox at once delete disjoint rows without waiting for each other."""

    def alert_processed(self, key: str) -> bool:
        """Whether `mark_alert_processed(key)` was called (by any receiver sharing the inbox)."""

    def mark_alert_processed(self, key: str) -> None: ...

    def close(self) -> None: ...
