"""How the gate enforces `rate_limit_user`: one token bucket per limited pseudonym, shared by the fleet.

Only turns of users who are rate limited get here, so whatever a bucket costs, everybody else pays nothing.
`SharedBuckets` takes tokens from the state's own database (`ContainmentState.take_token`: one upsert in
PostgreSQL, one write transaction in SQLite), so N replicas together let a user through once, not N times.
A refusal tells how long until the next token at the earliest; other replicas can only take tokens, never
add them, so until then this process refuses that user without asking the database again. When the
database cannot be reached, a limited user is refused (the safe direction) and the error is counted.

`LocalBuckets` is for a state read over HTTP, which offers no shared bucket: each process keeps its own,
with 1/`replicas` of the rate and burst, so the fleet's total stays within the limit when the replicas are
counted right (a user whose turns all land on one replica gets less than the limit, never more).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from typing import Protocol

from otel_ai_incident.containment.state.interface import TokenGrant, refill

#: After a failed take, limited users are refused without asking for this long (no retry storm, no stall).
RETRY_AFTER_ERROR_S = 1.0

_monotonic = time.monotonic


class Buckets(Protocol):
    def allow(self, pseudonym: str, rate_per_s: float, burst: float) -> bool:
        """Whether this turn of a limited user may go ahead (a token was taken)."""

    def keep_only(self, pseudonyms: Collection[str]) -> None:
        """Forget the buckets of users no longer limited (their limit was lifted, replaced or lapsed)."""


class TakesTokens(Protocol):
    def take_token(self, target: str, rate_per_s: float, burst: float) -> TokenGrant: ...


class SharedBuckets:
    """Buckets kept in the containment state's database, so they hold across processes and replicas."""

    def __init__(self, store: TakesTokens, on_error: Callable[[BaseException], None]) -> None:
        self._store = store
        self._on_error = on_error
        self._refused_until: dict[str, float] = {}  # pseudonym -> monotonic time of its next token
        self._unavailable_until = 0.0

    def allow(self, pseudonym: str, rate_per_s: float, burst: float) -> bool:
        now = _monotonic()
        if now < self._refused_until.get(pseudonym, 0.0) or now < self._unavailable_until:
            return False
        try:
            answer = self._store.take_token(pseudonym, rate_per_s, burst)
        except Exception as error:
            self._unavailable_until = _monotonic() + RETRY_AFTER_ERROR_S
            self._on_error(error)
            return False
        if not answer.taken:
            self._refused_until[pseudonym] = now + answer.retry_after_s
        return answer.taken

    def keep_only(self, pseudonyms: Collection[str]) -> None:
        self._refused_until = {p: t for p, t in self._refused_until.items() if p in pseudonyms}


class LocalBuckets:
    """Buckets in this process, each with 1/`replicas` of the prescribed rate and burst (at least 1 token)."""

    def __init__(self, replicas: int = 1) -> None:
        if replicas < 1:
            raise ValueError(f"replicas must be at least 1, not {replicas}")
        self._replicas = replicas
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # pseudonym -> (tokens, monotonic time of update)

    def allow(self, pseudonym: str, rate_per_s: float, burst: float) -> bool:
        rate, burst = rate_per_s / self._replicas, max(1.0, burst / self._replicas)
        now = _monotonic()
        with self._lock:
            tokens, updated = self._buckets.get(pseudonym, (burst, now))
            level = refill(tokens, now - updated, rate, burst)
            taken = level >= 1.0
            self._buckets[pseudonym] = (level - 1.0 if taken else level, now)
        return taken

    def keep_only(self, pseudonyms: Collection[str]) -> None:
        with self._lock:
            self._buckets = {p: b for p, b in self._buckets.items() if p in pseudonyms}
